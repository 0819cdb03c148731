import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * Secrets at rest (TOTP seeds) and one-time-code hashes. The configured `encryption_keys` are
 * strings of any shape, so each is stretched with HKDF into purpose-bound 32-byte keys: the same
 * string never serves as both the AES key and the HMAC key.
 */

const SALT = 'oidc-sspr';
const FORMAT = 'v1';

function derive(secret: string, info: string, length = 32): Buffer {
  return Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), SALT, info, length));
}

function requireKeys(keys: readonly string[]): void {
  if (keys.length === 0) throw new Error('at least one encryption key is required');
}

export interface SecretBox {
  /** AES-256-GCM with the first (newest) key; `aad` binds the ciphertext to a context, e.g. a method id. */
  seal(plaintext: string, aad?: string): string;
  /** Opens with whichever configured key the sealed value names; throws when absent or tampered with. */
  open(sealed: string, aad?: string): string;
  /** True when the value was sealed with an older key and should be sealed again. */
  needsReseal(sealed: string): boolean;
}

/**
 * Sealed format `v1.<keyId>.<iv>.<ciphertext+tag>` (base64url). The key id is derived from the key
 * (not its position in the list), so reordering or adding keys never confuses which key to use.
 */
export function createSecretBox(encryptionKeys: readonly string[]): SecretBox {
  requireKeys(encryptionKeys);
  const keys = encryptionKeys.map((k) => ({
    id: derive(k, 'secret-box key id', 6).toString('base64url'),
    key: derive(k, 'secret-box aes-256-gcm'),
  }));
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const current = keys[0];

  return {
    seal(plaintext, aad) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', current.key, iv);
      if (aad !== undefined) cipher.setAAD(Buffer.from(aad, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final(), cipher.getAuthTag()]);
      return [FORMAT, current.id, iv.toString('base64url'), body.toString('base64url')].join('.');
    },
    open(sealed, aad) {
      const [format, id, ivText, bodyText, ...rest] = sealed.split('.');
      if (format !== FORMAT || !id || !ivText || !bodyText || rest.length > 0) throw new Error('sealed value has an unknown format');
      const key = byId.get(id);
      if (!key) throw new Error(`sealed with a key that is no longer configured (key id ${id})`);
      const iv = Buffer.from(ivText, 'base64url');
      const body = Buffer.from(bodyText, 'base64url');
      if (iv.length !== 12 || body.length < 16) throw new Error('sealed value is truncated');
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      if (aad !== undefined) decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([decipher.update(body.subarray(0, body.length - 16)), decipher.final()]).toString('utf8');
    },
    needsReseal(sealed) {
      return sealed.split('.')[1] !== current.id;
    },
  };
}

export interface CodeHasher {
  /** Hex HMAC-SHA256 of the code, bound to its flow and channel. */
  hash(flowId: string, channel: string, code: string): string;
  /** Constant-time comparison of two hashes. */
  equals(a: string, b: string): boolean;
}

/**
 * Only the first key hashes: codes live 10 minutes at most, so a key rotation merely voids the codes
 * in flight, and checking every key would only add work. Flow id and channel go into the MAC so a
 * code (or its stored hash) cannot be replayed in another flow or through another channel.
 */
export function createCodeHasher(encryptionKeys: readonly string[]): CodeHasher {
  requireKeys(encryptionKeys);
  const key = derive(encryptionKeys[0], 'one-time-code hmac-sha256');
  return {
    hash(flowId, channel, code) {
      // Length-prefixed fields: no choice of flowId/channel/code can collide with another.
      const mac = createHmac('sha256', key);
      for (const part of [flowId, channel, code]) {
        const bytes = Buffer.from(part, 'utf8');
        const len = Buffer.alloc(4);
        len.writeUInt32BE(bytes.length);
        mac.update(len).update(bytes);
      }
      return mac.digest('hex');
    },
    equals: constantEquals,
  };
}

/** timingSafeEqual needs equal lengths; a length mismatch still does one comparison so timing stays flat. */
export function constantEquals(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  if (x.length !== y.length) {
    timingSafeEqual(x, x);
    return false;
  }
  return timingSafeEqual(x, y);
}

/** `n` decimal digits from the CSPRNG; randomInt avoids the modulo bias of `byte % 10`. */
export function randomDigits(n: number): string {
  if (!Number.isInteger(n) || n < 1) throw new RangeError('n must be a positive integer');
  let out = '';
  for (let i = 0; i < n; i++) out += String(randomInt(0, 10));
  return out;
}

/** 128 random bits, base64url (22 characters): unguessable ids for flows and codes. */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Keyed hashes of long-lived secrets (recovery codes, helpdesk passes): HMAC-SHA256 under a key
 * derived for `purpose` from each configured encryption key. `hashAll` gives one hash per key, newest
 * first, so values hashed before a key rotation still match while the old key is configured.
 */
export interface KeyedHasher {
  hash(value: string): string;
  hashAll(value: string): string[];
}

export function createKeyedHasher(encryptionKeys: readonly string[], purpose: string): KeyedHasher {
  // Derived at first use: a CLI command that hashes nothing runs without keys (src/compose.ts).
  let keys: Buffer[] | null = null;
  const derived = () => {
    if (!keys) {
      requireKeys(encryptionKeys);
      keys = encryptionKeys.map((k) => derive(k, `keyed-hash ${purpose}`));
    }
    return keys;
  };
  const mac = (key: Buffer, value: string) => createHmac('sha256', key).update(value, 'utf8').digest('hex');
  return {
    hash: (value) => mac(derived()[0]!, value),
    hashAll: (value) => derived().map((key) => mac(key, value)),
  };
}

/** Lower-case letters and digits without the look-alikes i, l, o, 0, 1: read aloud or copied by hand. */
export const READABLE_ALPHABET = 'abcdefghjkmnpqrstuvwxyz23456789';

/**
 * A secret people copy by hand (recovery codes, helpdesk passes): `length` characters of
 * {@link READABLE_ALPHABET} from the CSPRNG (randomInt: no modulo bias), in groups of `group` joined by dashes.
 */
export function readableSecret(length: number, group: number): string {
  let raw = '';
  for (let i = 0; i < length; i++) raw += READABLE_ALPHABET[randomInt(0, READABLE_ALPHABET.length)];
  return raw.match(new RegExp(`.{1,${group}}`, 'g'))?.join('-') ?? raw;
}

/** What people type back: case, spaces and dashes (any Unicode dash) ignored. */
export function normaliseReadable(typed: string): string {
  return typed.normalize('NFKC').toLowerCase().replace(/[\s\p{Pd}_]/gu, '');
}
