import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Csrf {
  /** A token bound to one interaction, flow or session: a form from another site cannot know it. */
  token(binding: string): string;
  verify(binding: string, token: unknown): boolean;
}

/**
 * Stateless CSRF tokens: HMAC of the binding under the cookie keys. Every instance shares the keys,
 * so a form rendered by one instance posts to any other; older keys still verify after rotation.
 */
export function createCsrf(keys: string[]): Csrf {
  const mac = (key: string, binding: string) => createHmac('sha256', key).update(`csrf|${binding}`).digest('base64url');
  return {
    token: (binding) => mac(keys[0], binding),
    verify(binding, token) {
      if (typeof token !== 'string') return false;
      // Byte length, not string length: 43 characters of which one is not ASCII are more than 43
      // bytes, and timingSafeEqual throws on buffers of different lengths (a 500, found by fuzzing).
      const given = Buffer.from(token);
      if (given.length !== 43) return false;
      return keys.some((key) => timingSafeEqual(Buffer.from(mac(key, binding)), given));
    },
  };
}
