import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

/**
 * The signer of signed cookies (oidc-provider's session and interaction cookies, and ours): what the
 * `cookies` package asks of Koa's `app.keys` — keygrip's `sign`, `verify` and `index` — making the
 * very signatures keygrip makes by default (HMAC-SHA1 of the cookie's `name=value`, base64url without
 * padding), so cookies signed before an upgrade stay valid and a key rotation works as before: the
 * first key signs, every listed key verifies.
 *
 * Why not keygrip itself: it compares signatures with `tsscmp`, which HMACs both sides again under a
 * fresh random Buffer key, and on Node 24 an HMAC under a Buffer key costs ≈ 10 µs (the key's type
 * is probed by throwing and catching a TypeError, stack trace included) against ≈ 1.6 µs under a
 * KeyObject — ≈ 27 µs per signed cookie read, ≈ 0.3 ms of a sign-in (bench/RESULTS.md). Here each
 * key is a KeyObject made once, and the comparison is `timingSafeEqual` on equal lengths: the length
 * of a valid signature is public (27 characters), so refusing another length at once reveals nothing.
 */
export class CookieKeys {
  private readonly keys: readonly KeyObject[];
  /**
   * The newest key's signatures of the last cookies signed or checked: one sign-in signs and checks
   * the same interaction, resume and session cookies 7 times, and under load an HMAC costs ≈ 20 µs
   * (OpenSSL's look-ups, cache-cold), a hit here a Map look-up. Bounded (entries and length: cookie
   * values come from requests); a hit only tells that the same cookie was seen lately, which nobody
   * can use without already holding that cookie.
   */
  private readonly newest = new Map<string, string>();

  constructor(secrets: readonly string[]) {
    if (secrets.length === 0) throw new Error('signed cookies need at least one key');
    this.keys = secrets.map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
  }

  /** The signature of `data` under the newest key. */
  sign(data: string): string {
    let signature = this.newest.get(data);
    if (signature === undefined) {
      signature = signatureOf(this.keys[0]!, data);
      if (data.length <= MEMO_MAX_LENGTH) {
        // Cleared whole when full: evicting the oldest one by one made every miss walk the Map's
        // holes left by earlier deletions (perf: ≈ 7 µs a call under load).
        if (this.newest.size >= MEMO_ENTRIES) this.newest.clear();
        this.newest.set(data, signature);
      }
    }
    return signature;
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** Which key made `digest` (0 = the newest; the `cookies` package re-signs with it when > 0), or -1. */
  index(data: string, digest: string): number {
    if (typeof digest !== 'string') return -1;
    const given = Buffer.from(digest, 'utf8');
    for (let i = 0; i < this.keys.length; i++) {
      const expected = Buffer.from(i === 0 ? this.sign(data) : signatureOf(this.keys[i]!, data), 'utf8');
      if (expected.length === given.length && timingSafeEqual(expected, given)) return i;
    }
    return -1;
  }
}

const MEMO_ENTRIES = 1024;
const MEMO_MAX_LENGTH = 256;

const signatureOf = (key: KeyObject, data: string): string => createHmac('sha1', key).update(data).digest('base64url');
