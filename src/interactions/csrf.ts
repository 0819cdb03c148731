import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';

export interface Csrf {
  /** A token bound to one interaction, flow or session: a form from another site cannot know it. */
  token(binding: string): string;
  verify(binding: string, token: unknown): boolean;
}

/**
 * Stateless CSRF tokens: HMAC of the binding under the cookie keys. Every instance shares the keys,
 * so a form rendered by one instance posts to any other; older keys still verify after rotation.
 */
export function createCsrf(secrets: string[]): Csrf {
  // KeyObjects made once: an HMAC under a string key converts and imports the key on every call.
  const keys = secrets.map((secret) => createSecretKey(Buffer.from(secret, 'utf8')));
  const mac = (key: KeyObject, binding: string) => createHmac('sha256', key).update(`csrf|${binding}`).digest('base64url');
  // The newest key's tokens of the last bindings: a page's form is rendered, then posted, and both
  // need the same token (an HMAC costs ≈ 20 µs under sign-in load, a hit a Map look-up). A hit only
  // says this process computed that token lately; the comparison below is the same either way.
  const recent = new Map<string, string>();
  const newest = (binding: string) => {
    let token = recent.get(binding);
    if (token === undefined) {
      token = mac(keys[0]!, binding);
      if (binding.length <= 256) {
        if (recent.size >= 1024) recent.clear();
        recent.set(binding, token);
      }
    }
    return token;
  };
  return {
    token: newest,
    verify(binding, token) {
      if (typeof token !== 'string') return false;
      // Byte length, not string length: 43 characters of which one is not ASCII are more than 43
      // bytes, and timingSafeEqual throws on buffers of different lengths (a 500, found by fuzzing).
      const given = Buffer.from(token);
      if (given.length !== 43) return false;
      return keys.some((key, i) => timingSafeEqual(Buffer.from(i === 0 ? newest(binding) : mac(key, binding)), given));
    },
  };
}
