import type { Clock } from '../clock.ts';
import type { ThrottleCounter, ThrottleStore, TransactionHandle } from './ports.ts';
import { keyTouches, keysFor } from './throttle-keys.ts';

/**
 * Persistent throttles behind the ThrottleStore port (our server: the `throttles` table,
 * src/store/throttle-store.ts), shared by every instance through the database.
 *
 * Why not rate-limiter-flexible: its SQLite store needs its own sqlite3 or better-sqlite3 handle beside Sequelize's
 * connections and IMMEDIATE transactions (SQLITE_BUSY under load), it reads Date.now() instead of our clock (so
 * blocks could not be tested by moving the clock), and we want the counter update in the same
 * transaction as the audit event.
 *
 * Semantics: a fixed window of `max` points; the hit that goes over `max` starts a block of `blockMs`
 * and is itself refused. Hits during a block are counted and refused, but never lengthen it (an
 * attacker hammering a blocked key cannot stretch the wait of the key's owner). When the block ends
 * the count starts again from zero — unless the rule escalates: then the key remembers its blocks
 * (`strikes`) for {@link STRIKE_MEMORY_MS} after the last one, the first hit after a block is one
 * more checked guess, and the hit after it starts a block twice as long as the last (NIST SP
 * 800-63B: consecutive failures stay far below 100 over any realistic time). With `blockMs = 0` it is
 * a plain fixed window: refused until the window ends.
 *
 * Every hit is one atomic step of the store for one key or several (on SQLite and PostgreSQL one
 * `INSERT … ON CONFLICT DO UPDATE … RETURNING`), so concurrent hits on several instances count
 * exactly: callers count first and check the password or code only when the hit was allowed. This
 * file holds the rules (what each hit writes, how a row reads as a state, escalation); the store only
 * applies them atomically.
 */

/** How long an escalating key remembers its blocks after the last one ends. */
export const STRIKE_MEMORY_MS = 365 * 24 * 3_600_000;
/** Doubling stops at 2^16 times the first block (with 15 minutes: about two years). */
const MAX_DOUBLINGS = 16;

export interface ThrottleRule {
  max: number;
  windowMs: number;
  blockMs: number;
  /** Repeated blocks double, with one checked guess between them (see the header). */
  escalate?: boolean;
}

export interface ThrottleState {
  allowed: boolean;
  /** Hits counted in the current window (or block). */
  count: number;
  /** End of the current block; null when not blocked. */
  blockedUntil: Date | null;
  /** True only for the hit that started the block: record one `sspr.reset.blocked` event for it. */
  justBlocked: boolean;
  /** When the count starts again; with a block, the block's end. Null when nothing is counted. */
  resetsAt: Date | null;
}

export type Throttle = ReturnType<typeof createThrottle>;

/** The key helpers live in throttle-keys.ts; re-exported for the callers that import them from here. */
export { keyTouches, keysFor, normaliseIdentifier } from './throttle-keys.ts';

function validate(rule: ThrottleRule): void {
  if (!Number.isInteger(rule.max) || rule.max < 1) throw new RangeError('throttle max must be a positive integer');
  if (!(rule.windowMs > 0)) throw new RangeError('throttle windowMs must be positive');
  if (!(rule.blockMs >= 0)) throw new RangeError('throttle blockMs must not be negative');
}

const escalates = (rule: ThrottleRule) => Boolean(rule.escalate) && rule.blockMs > 0;

/** Length of a key's n-th block in a row: the first `blockMs`, each later one twice the one before. */
function blockLength(strikes: number, rule: ThrottleRule): number {
  if (!escalates(rule)) return rule.blockMs;
  return rule.blockMs * 2 ** Math.min(Math.max(strikes - 1, 0), MAX_DOUBLINGS);
}

export function createThrottle({ store, clock }: { store: ThrottleStore; clock: Clock }) {
  function stateOf(row: ThrottleCounter | undefined, rule: ThrottleRule, now: Date): ThrottleState {
    if (!row) return { allowed: true, count: 0, blockedUntil: null, justBlocked: false, resetsAt: null };
    const windowEndsAt = row.windowEndsAt;
    const live = windowEndsAt.getTime() > now.getTime();
    const blocked = row.blockedUntil;
    const blockedUntil = blocked && blocked.getTime() > now.getTime() ? blocked : null;
    // A block that is over on a live row (an escalating rule's memory): the next hit is the one
    // checked guess between blocks, so a read says "allowed", as that hit will.
    const count = !live ? 0 : blocked && !blockedUntil ? Math.min(row.count, rule.max) : row.count;
    return {
      allowed: blockedUntil === null && count <= rule.max,
      count,
      blockedUntil,
      // Only the hit that starts a block leaves the count at exactly max + 1 (later ones add to it).
      justBlocked: blockedUntil !== null && count === rule.max + 1,
      resetsAt: live ? (blockedUntil && blockedUntil.getTime() < windowEndsAt.getTime() ? blockedUntil : windowEndsAt) : null,
    };
  }

  /**
   * Counts one hit against each key, in one statement, and says for each (in the order given)
   * whether the request may go on. Keys must differ.
   */
  async function hitMany(items: ReadonlyArray<{ key: string; rule: ThrottleRule }>, t?: TransactionHandle): Promise<ThrottleState[]> {
    for (const { rule } of items) validate(rule);
    if (items.length === 0) return [];
    if (new Set(items.map((i) => i.key)).size !== items.length) throw new RangeError('throttle keys must differ');
    const now = clock.now();
    const rows = await store.hit(items.map(({ key, rule }) => {
      const blockEndsAt = new Date(now.getTime() + rule.blockMs);
      return {
        key,
        windowEndsAt: new Date(now.getTime() + rule.windowMs),
        blockEndsAt,
        // Where the count lives on after the block: at its end, or a year on for an escalating rule.
        memoryEndsAt: escalates(rule) ? new Date(blockEndsAt.getTime() + STRIKE_MEMORY_MS) : blockEndsAt,
        max: rule.max,
        blocksAt: rule.blockMs > 0 ? rule.max + 1 : -1,
      };
    }), now, t);
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const states = items.map(({ key, rule }) => stateOf(byKey.get(key), rule, now));
    // A later block of an escalating rule is longer than the one the hit wrote: lengthen it.
    // The hit already refuses every concurrent one, so this second write only moves the end.
    for (const [i, s] of states.entries()) {
      const { key, rule } = items[i];
      const strikes = byKey.get(key)?.strikes ?? 0;
      const length = blockLength(strikes, rule);
      if (!s.justBlocked || length === rule.blockMs) continue;
      const until = new Date(now.getTime() + length);
      await store.lengthenBlock(key, strikes, until, new Date(until.getTime() + STRIKE_MEMORY_MS), t);
      states[i] = { ...s, blockedUntil: until, resetsAt: until };
    }
    return states;
  }

  /** Counts one hit against `key` and says whether the request may go on. */
  async function hit(key: string, rule: ThrottleRule, t?: TransactionHandle): Promise<ThrottleState> {
    return (await hitMany([{ key, rule }], t))[0];
  }

  /** The state of `key` without counting a hit. */
  async function peek(key: string, rule: ThrottleRule, t?: TransactionHandle): Promise<ThrottleState> {
    return (await peekMany([{ key, rule }], t))[0];
  }

  /** The states of several keys without counting a hit, in one read. In the order given. */
  async function peekMany(items: ReadonlyArray<{ key: string; rule: ThrottleRule }>, t?: TransactionHandle): Promise<ThrottleState[]> {
    for (const { rule } of items) validate(rule);
    if (items.length === 0) return [];
    const rows = await store.read(items.map((i) => i.key), t);
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const now = clock.now();
    return items.map(({ key, rule }) => stateOf(byKey.get(key), rule, now));
  }

  /**
   * Gives back the hit a success used (counted first, then proven right), one point per key, so a
   * right answer never counts as a failure. Keys being blocked stay as they are.
   */
  async function refund(keys: readonly string[], t?: TransactionHandle): Promise<void> {
    if (keys.length === 0) return;
    await store.refund(keys, clock.now(), t);
  }

  /** Forgets one counter (a successful reset, or an admin's unblock). */
  async function reset(key: string, t?: TransactionHandle): Promise<void> {
    await store.remove([key], t);
  }

  /** Forgets several counters at once (a successful sign-in ends the consecutive failures). */
  async function clear(keys: readonly string[], t?: TransactionHandle): Promise<void> {
    await store.remove(keys, t);
  }

  /** Forgets every counter whose key starts with `prefix`; returns how many. */
  async function resetPrefix(prefix: string, t?: TransactionHandle): Promise<number> {
    return store.removePrefix(prefix, t);
  }

  /**
   * Forgets every counter touching `subjects` (`id:bob`, `acct:<id>`, `ip:<ipKey>`, see
   * {@link keyTouches}); returns the keys removed.
   */
  async function liftTouching(subjects: readonly string[], t?: TransactionHandle): Promise<string[]> {
    const keys = new Set<string>();
    for (const subject of subjects) {
      for (const key of await store.keysContaining(subject, t)) if (keyTouches(key, subject)) keys.add(key);
    }
    await store.remove([...keys], t);
    return [...keys].sort();
  }

  /** Deletes counters whose window and block are both over; returns how many. */
  async function purgeExpired(t?: TransactionHandle): Promise<number> {
    return store.purgeExpired(clock.now(), t);
  }

  return { hit, hitMany, peek, peekMany, refund, reset, clear, resetPrefix, liftTouching, purgeExpired, keysFor };
}
