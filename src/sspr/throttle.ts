import { QueryTypes } from 'sequelize';
import type { Clock } from '../clock.ts';
import { fastSql } from '../store/fast-sql.ts';
import { keyTouches, keysFor } from './throttle-keys.ts';
import type { Store, Transaction } from '../store/index.ts';

/**
 * Persistent throttles on our own `throttles` table, shared by every instance through the database.
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
 * Every hit is one atomic upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`) on SQLite and
 * PostgreSQL alike, for one key or several, so concurrent hits on several instances count exactly:
 * callers count first and check the password or code only when the hit was allowed.
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

interface RawRow { count: number | string; window_ends_at: Date | string; blocked_until: Date | string | null; strikes?: number | string }

/** SQLite hands back the stored text ('YYYY-MM-DD HH:MM:SS.SSS +00:00'); PostgreSQL a Date. */
function toDate(v: Date | string | null): Date | null {
  if (v === null) return null;
  if (v instanceof Date) return v;
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(v.trim());
  const d = m ? new Date(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`) : new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable date in throttles: ${v}`);
  return d;
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

const escalates = (rule: ThrottleRule) => Boolean(rule.escalate) && rule.blockMs > 0;

/** Length of a key's n-th block in a row: the first `blockMs`, each later one twice the one before. */
function blockLength(strikes: number, rule: ThrottleRule): number {
  if (!escalates(rule)) return rule.blockMs;
  return rule.blockMs * 2 ** Math.min(Math.max(strikes - 1, 0), MAX_DOUBLINGS);
}

export function createThrottle({ store, clock }: { store: Store; clock: Clock }) {
  const { sequelize } = store;
  const postgres = sequelize.getDialect() === 'postgres';
  // Parameters inside `CASE key WHEN … THEN :x` have no column to take a type from: PostgreSQL would
  // read them as text, SQLite must not cast its date text at all.
  const ts = (param: string) => (postgres ? `CAST(${param} AS TIMESTAMPTZ)` : param);

  function stateOf(row: RawRow | undefined, rule: ThrottleRule, now: Date): ThrottleState {
    if (!row) return { allowed: true, count: 0, blockedUntil: null, justBlocked: false, resetsAt: null };
    const windowEndsAt = toDate(row.window_ends_at) as Date;
    const live = windowEndsAt.getTime() > now.getTime();
    const blocked = toDate(row.blocked_until);
    const blockedUntil = blocked && blocked.getTime() > now.getTime() ? blocked : null;
    // A block that is over on a live row (an escalating rule's memory): the next hit is the one
    // checked guess between blocks, so a read says "allowed", as that hit will.
    const count = !live ? 0 : blocked && !blockedUntil ? Math.min(Number(row.count), rule.max) : Number(row.count);
    return {
      allowed: blockedUntil === null && count <= rule.max,
      count,
      blockedUntil,
      // Only the hit that starts a block leaves the count at exactly max + 1 (later ones add to it).
      justBlocked: blockedUntil !== null && count === rule.max + 1,
      resetsAt: live ? (blockedUntil && blockedUntil.getTime() < windowEndsAt.getTime() ? blockedUntil : windowEndsAt) : null,
    };
  }

  async function deleted(sql: string, replacements: Record<string, unknown>, t?: Transaction): Promise<number> {
    // BULKDELETE makes both dialects answer with the number of deleted rows.
    const n: unknown = await sequelize.query(sql, { replacements, type: QueryTypes.BULKDELETE, transaction: t });
    return Number(n);
  }

  /**
   * Counts one hit against each key, in one statement, and says for each (in the order given)
   * whether the request may go on. Keys must differ.
   */
  async function hitMany(items: ReadonlyArray<{ key: string; rule: ThrottleRule }>, t?: Transaction): Promise<ThrottleState[]> {
    for (const { rule } of items) validate(rule);
    if (items.length === 0) return [];
    if (new Set(items.map((i) => i.key)).size !== items.length) throw new RangeError('throttle keys must differ');
    const now = clock.now();
    const replacements: Record<string, unknown> = { now };
    const values: string[] = [];
    items.forEach(({ key, rule }, i) => {
      const blockEnd = new Date(now.getTime() + rule.blockMs);
      Object.assign(replacements, {
        [`k${i}`]: key,
        [`w${i}`]: new Date(now.getTime() + rule.windowMs),
        [`b${i}`]: blockEnd,
        // Where the count lives on after the block: at its end, or a year on for an escalating rule.
        [`m${i}`]: escalates(rule) ? new Date(blockEnd.getTime() + STRIKE_MEMORY_MS) : blockEnd,
        [`x${i}`]: rule.max,
        [`o${i}`]: rule.blockMs > 0 ? rule.max + 1 : -1,
      });
      values.push(`(:k${i}, 1, :w${i}, NULL, 0)`);
    });
    // One parameter per key: itself with one key, chosen by key with several.
    const perKey = (name: string, date: boolean) => {
      const p = (i: number) => (date ? ts(`:${name}${i}`) : `:${name}${i}`);
      return items.length === 1 ? p(0) : `(CASE throttles.key ${items.map((_, i) => `WHEN :k${i} THEN ${p(i)}`).join(' ')} END)`;
    };
    const expired = 'throttles.window_ends_at <= :now';
    const blocked = 'throttles.blocked_until > :now';
    // A block that is over on a row still alive: only an escalating rule keeps the row past its block.
    const afterBlock = 'throttles.blocked_until IS NOT NULL';
    const starts = `throttles.count + 1 = ${perKey('o', false)}`;
    // Old-row values (`throttles.*`) are read in every SET expression, on both databases, so the
    // columns change together from one consistent snapshot of the row. The CASE branches are in the
    // same order everywhere: window over, blocked, first hit after a block, the hit that blocks.
    // The leading comment keeps Sequelize's SQLite driver from treating this as a plain INSERT
    // (which would drop the RETURNING rows).
    const rows = await sequelize.query<RawRow & { key: string }>(
      `/* throttle hit */ INSERT INTO throttles (key, count, window_ends_at, blocked_until, strikes)
       VALUES ${values.join(', ')}
       ON CONFLICT (key) DO UPDATE SET
         count = CASE
           WHEN ${expired} THEN 1
           WHEN ${blocked} THEN throttles.count + 1
           WHEN ${afterBlock} THEN ${perKey('x', false)}
           ELSE throttles.count + 1 END,
         window_ends_at = CASE
           WHEN ${expired} THEN excluded.window_ends_at
           WHEN ${blocked} OR ${afterBlock} THEN throttles.window_ends_at
           WHEN ${starts} THEN ${perKey('m', true)}
           ELSE throttles.window_ends_at END,
         blocked_until = CASE
           WHEN ${expired} THEN NULL
           WHEN ${blocked} THEN throttles.blocked_until
           WHEN ${afterBlock} THEN NULL
           WHEN ${starts} THEN ${perKey('b', true)}
           ELSE throttles.blocked_until END,
         strikes = CASE
           WHEN ${expired} THEN 0
           WHEN ${blocked} OR ${afterBlock} THEN throttles.strikes
           WHEN ${starts} THEN throttles.strikes + 1
           ELSE throttles.strikes END
       RETURNING key, count, window_ends_at, blocked_until, strikes`,
      { replacements, type: QueryTypes.SELECT, transaction: t },
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const states = items.map(({ key, rule }) => stateOf(byKey.get(key), rule, now));
    // A later block of an escalating rule is longer than the one the statement wrote: lengthen it.
    // The statement already refuses every concurrent hit, so this second write only moves the end.
    for (const [i, s] of states.entries()) {
      const { key, rule } = items[i];
      const strikes = Number(byKey.get(key)?.strikes ?? 0);
      const length = blockLength(strikes, rule);
      if (!s.justBlocked || length === rule.blockMs) continue;
      const until = new Date(now.getTime() + length);
      await sequelize.query(
        'UPDATE throttles SET blocked_until = :until, window_ends_at = :memory WHERE key = :key AND strikes = :strikes',
        { replacements: { until, memory: new Date(until.getTime() + STRIKE_MEMORY_MS), key, strikes }, transaction: t },
      );
      states[i] = { ...s, blockedUntil: until, resetsAt: until };
    }
    return states;
  }

  /** Counts one hit against `key` and says whether the request may go on. */
  async function hit(key: string, rule: ThrottleRule, t?: Transaction): Promise<ThrottleState> {
    return (await hitMany([{ key, rule }], t))[0];
  }

  /** The state of `key` without counting a hit. */
  async function peek(key: string, rule: ThrottleRule, t?: Transaction): Promise<ThrottleState> {
    return (await peekMany([{ key, rule }], t))[0];
  }

  /** The states of several keys without counting a hit, in one statement. In the order given. */
  async function peekMany(items: ReadonlyArray<{ key: string; rule: ThrottleRule }>, t?: Transaction): Promise<ThrottleState[]> {
    for (const { rule } of items) validate(rule);
    if (items.length === 0) return [];
    // A prepared statement, not Sequelize's query layer: cheap enough for every step of a flow.
    const keys = items.map((i) => i.key);
    const rows = await fastSql(sequelize).all<RawRow & { key: string }>(
      `SELECT key, count, window_ends_at, blocked_until FROM throttles WHERE key IN (${keys.map((_, i) => `$${i + 1}`).join(', ')})`,
      keys,
      t,
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const now = clock.now();
    return items.map(({ key, rule }) => stateOf(byKey.get(key), rule, now));
  }

  /**
   * Gives back the hit a success used (counted first, then proven right), one point per key, so a
   * right answer never counts as a failure. Keys being blocked stay as they are.
   */
  async function refund(keys: readonly string[], t?: Transaction): Promise<void> {
    if (keys.length === 0) return;
    await sequelize.query(
      `UPDATE throttles SET count = CASE WHEN count > 0 THEN count - 1 ELSE 0 END
       WHERE key IN (:keys) AND window_ends_at > :now AND (blocked_until IS NULL OR blocked_until <= :now)`,
      { replacements: { keys: [...keys], now: clock.now() }, transaction: t },
    );
  }

  /** Forgets one counter (a successful reset, or an admin's unblock). */
  async function reset(key: string, t?: Transaction): Promise<void> {
    await store.models.Throttle.destroy({ where: { key }, transaction: t });
  }

  /** Forgets several counters in one statement (a successful sign-in ends the consecutive failures). */
  async function clear(keys: readonly string[], t?: Transaction): Promise<void> {
    if (keys.length === 0) return;
    await fastSql(sequelize).run(`DELETE FROM throttles WHERE key IN (${keys.map((_, i) => `$${i + 1}`).join(', ')})`, keys, t);
  }

  /** Forgets every counter whose key starts with `prefix`; returns how many. */
  async function resetPrefix(prefix: string, t?: Transaction): Promise<number> {
    return deleted("DELETE FROM throttles WHERE key LIKE :pattern ESCAPE '\\'", { pattern: `${escapeLike(prefix)}%` }, t);
  }

  /**
   * Forgets every counter touching `subjects` (`id:bob`, `acct:<id>`, `ip:<ipKey>`, see
   * {@link keyTouches}); returns the keys removed.
   */
  async function liftTouching(subjects: readonly string[], t?: Transaction): Promise<string[]> {
    const keys = new Set<string>();
    for (const subject of subjects) {
      // LIKE narrows (wildcards in the subject only widen it); keyTouches decides.
      const rows = await sequelize.query<{ key: string }>("SELECT key FROM throttles WHERE key LIKE :pattern ESCAPE '\\'", {
        replacements: { pattern: `%${escapeLike(subject)}%` }, type: QueryTypes.SELECT, transaction: t,
      });
      for (const { key } of rows) if (keyTouches(key, subject)) keys.add(key);
    }
    if (keys.size > 0) await store.models.Throttle.destroy({ where: { key: [...keys] }, transaction: t });
    return [...keys].sort();
  }

  /** Deletes counters whose window and block are both over; returns how many. */
  async function purgeExpired(t?: Transaction): Promise<number> {
    return deleted(
      'DELETE FROM throttles WHERE window_ends_at <= :now AND (blocked_until IS NULL OR blocked_until <= :now)',
      { now: clock.now() },
      t,
    );
  }

  return { hit, hitMany, peek, peekMany, refund, reset, clear, resetPrefix, liftTouching, purgeExpired, keysFor };
}
