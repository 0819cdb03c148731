import { createHash } from 'node:crypto';
import { ipKey } from './ip-key.ts';

/**
 * Throttle keys: segments joined by `|`, the address always last (`id:bob|ip:192.0.2.1`), under a
 * scope prefix (`reset_fail/…`, `signin/…`, `register:<kind>:…`). One grammar, so `user unblock` and
 * `unblock --ip` can find every key touching an account or an address.
 */

const MAX_IDENTIFIER = 256;

/**
 * The three counters of one request: per identifier, per IP and per identifier + IP. The identifier
 * is normalised but never looked up, so unknown identifiers are counted exactly like known ones.
 * Keys are segments joined by `|`, the IP always last (`id:bob|ip:192.0.2.1`), so
 * `user unblock` and `unblock --ip` can find every key touching an account or an address
 * ({@link keyTouches}). IPv6 counts per /64 ({@link ipKey}).
 */
export function keysFor({ identifier, ip }: { identifier: string; ip: string }): [string, string, string] {
  const id = normaliseIdentifier(identifier);
  const addr = ipKey(ip);
  return [`id:${id}`, `ip:${addr}`, `id:${id}|ip:${addr}`];
}

export function normaliseIdentifier(identifier: string): string {
  const id = identifier.normalize('NFC').trim().toLowerCase();
  // Keys must fit the 400-character column; a very long identifier is counted under its hash.
  return [...id].length > MAX_IDENTIFIER ? `sha256:${createHash('sha256').update(id).digest('hex')}` : id;
}

/**
 * Whether a stored key counts for `subject` (`id:bob`, `acct:<id>`) or for an address (`ip:<ipKey>`).
 * A key is `<scope><sep><segment>[|ip:<address>]` with `/` or `:` before the segment.
 */
export function keyTouches(key: string, subject: string): boolean {
  // For an address the whole key counts; for an account or identifier, the key without its address.
  const part = subject.startsWith('ip:') ? key : key.replace(/\|ip:[^|]*$/, '');
  if (!part.endsWith(subject)) return false;
  const before = part.charAt(part.length - subject.length - 1);
  return before === '' || before === '/' || before === ':' || (subject.startsWith('ip:') && before === '|');
}

