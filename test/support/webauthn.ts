import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { isoBase64URL, isoCBOR } from '@simplewebauthn/server/helpers';

/**
 * A software authenticator for tests in Node: P-256 keys from node:crypto, CBOR from the library's
 * own encoder (tiny-cbor). It answers WebAuthn options the way a browser and an authenticator
 * would, and lets a test build the answers no real browser produces: another origin or rpId, no
 * user verification, an older sign count, another user handle.
 */

const b64 = (b: Uint8Array | Buffer) => isoBase64URL.fromBuffer(new Uint8Array(b));
const sha256 = (b: Uint8Array | Buffer | string) => createHash('sha256').update(b).digest();

export interface SoftCredential {
  id: string;
  privateKey: KeyObject;
  cose: Uint8Array;
  userHandle: string;
  signCount: number;
}

export interface Tweaks {
  origin?: string;
  rpId?: string;
  /** User verified (UV flag); default true. */
  uv?: boolean;
  /** The sign count to report; default one more than the last. */
  signCount?: number;
  /** Another user handle (base64url), or null for none. */
  userHandle?: string | null;
  /** Another challenge than the options'. */
  challenge?: string;
}

function coseKey(publicKey: KeyObject): Uint8Array {
  const jwk = publicKey.export({ format: 'jwk' });
  return isoCBOR.encode(new Map<number, number | Uint8Array>([
    [1, 2], [3, -7], [-1, 1], [-2, isoBase64URL.toBuffer(jwk.x!)], [-3, isoBase64URL.toBuffer(jwk.y!)],
  ]));
}

function authData(rpId: string, flags: number, count: number, attested?: { id: Buffer; cose: Uint8Array }): Buffer {
  const counter = Buffer.alloc(4);
  counter.writeUInt32BE(count);
  const parts: Buffer[] = [sha256(rpId), Buffer.from([flags]), counter];
  if (attested) {
    const len = Buffer.alloc(2);
    len.writeUInt16BE(attested.id.length);
    parts.push(Buffer.alloc(16), len, attested.id, Buffer.from(attested.cose));
  }
  return Buffer.concat(parts);
}

const flagsOf = (uv: boolean, attested: boolean) => 0x01 | (uv ? 0x04 : 0) | (attested ? 0x40 : 0);

export class SoftAuthenticator {
  readonly credentials: SoftCredential[] = [];
  readonly origin: string;

  constructor(origin: string) {
    this.origin = origin;
  }

  get rpId(): string {
    return new URL(this.origin).hostname;
  }

  /** Answers `navigator.credentials.create` options; keeps the new credential. */
  create(options: Record<string, unknown>, tweaks: Tweaks = {}): Record<string, unknown> {
    const user = options.user as { id: string };
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const id = randomBytes(16);
    const cose = coseKey(publicKey);
    const rpId = tweaks.rpId ?? (options.rp as { id?: string }).id ?? this.rpId;
    const data = authData(rpId, flagsOf(tweaks.uv ?? true, true), tweaks.signCount ?? 0, { id, cose });
    const attestationObject = isoCBOR.encode(new Map<string, unknown>([['fmt', 'none'], ['attStmt', new Map()], ['authData', new Uint8Array(data)]]) as never);
    const clientData = JSON.stringify({ type: 'webauthn.create', challenge: tweaks.challenge ?? options.challenge, origin: tweaks.origin ?? this.origin, crossOrigin: false });
    const credential = { id: b64(id), privateKey, cose, userHandle: user.id, signCount: tweaks.signCount ?? 0 };
    this.credentials.push(credential);
    return {
      id: credential.id, rawId: credential.id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: { clientDataJSON: b64(Buffer.from(clientData)), attestationObject: b64(attestationObject), transports: ['internal'] },
    };
  }

  /** Adds a credential without a ceremony (as if registered earlier), for `userHandle` (base64url). */
  adopt(userHandle: string, signCount = 0): SoftCredential {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const credential = { id: b64(randomBytes(16)), privateKey, cose: coseKey(publicKey), userHandle, signCount };
    this.credentials.push(credential);
    return credential;
  }

  /** Answers `navigator.credentials.get` options with `credential` (default: the first). */
  get(options: Record<string, unknown>, tweaks: Tweaks = {}, credential = this.credentials[0]!): Record<string, unknown> {
    const count = tweaks.signCount ?? credential.signCount + 1;
    credential.signCount = Math.max(credential.signCount, count);
    const rpId = tweaks.rpId ?? (options.rpId as string | undefined) ?? this.rpId;
    const data = authData(rpId, flagsOf(tweaks.uv ?? true, false), count);
    const clientData = Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: tweaks.challenge ?? options.challenge, origin: tweaks.origin ?? this.origin, crossOrigin: false }));
    const signature = sign('sha256', Buffer.concat([data, sha256(clientData)]), credential.privateKey);
    const userHandle = tweaks.userHandle === undefined ? credential.userHandle : tweaks.userHandle;
    return {
      id: credential.id, rawId: credential.id, type: 'public-key', authenticatorAttachment: 'platform', clientExtensionResults: {},
      response: { clientDataJSON: b64(clientData), authenticatorData: b64(data), signature: b64(signature), ...(userHandle === null ? {} : { userHandle }) },
    };
  }
}

/** The user handle our server gives an account (its id's bytes), base64url. */
export const userHandleOf = (accountId: string) => b64(Buffer.from(accountId, 'utf8'));
