import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A dependency loaded on first use instead of at start-up. For libraries only some requests need
 * (phone numbers, TOTP, YAML, metrics): a sign-in never touches them, and each one loaded at
 * start-up stays in the server's memory for its whole life (`npm run bench` measures that RSS).
 */
export function lazy<T>(specifier: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(specifier) as T);
}
