import { createHash } from 'node:crypto';
import { QueryTypes } from 'sequelize';
import type { Clock } from '../clock.ts';
import { fastSql } from '../store/fast-sql.ts';
import type { Store, Transaction } from '../store/index.ts';

/**
 * Persistent throttles on our own `throttles` table, shared by every instance through the database.
 *
 * Why not rate-limiter-flexible: its SQLite store needs its own sqlite3 or better-sqlite3 handle beside Sequelize's
 * connections and IMMEDIATE transactions (SQLITE_BUSY under load), it reads Date.now() instead of our clock (so
 * blocks could not be tested by moving the clock), and we want the counter update in the same
 * transaction as the audit event. Its semantics are kept: a fixed window of `max` points; the hit that
 * goes over `max` starts a block of `blockMs`, which replaces the window (hits during the block are
 * still counted and refused); when the block ends the count starts again from zero. With
 * `blockMs = 0` it is a plain fixed window: refused until the window ends.
 *
 * Every hit is one atomic upsert (`INSERT … ON CONFLICT DO UPDATE … RETURNING`) on SQLite and
 * PostgreSQL alike, so concurrent hits on several instances count exactly.
 */

export interface ThrottleRule {
  max: number;
  windowMs: number;
  blockMs: number;
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

const MAX_IDENTIFIER = 256;

/**
 * The three counters of one request: per identifier, per IP and per identifier + IP. The identifier
 * is normalised but never looked up, so unknown identifiers are counted exactly like known ones.
 */
export function keysFor({ identifier, ip }: { identifier: string; ip: string }): [string, string, string] {
  const id = normaliseIdentifier(identifier);
  return [`id:${id}`, `ip:${ip}`, `idip:${id}|${ip}`];
}

export function normaliseIdentifier(identifier: string): string {
  const id = identifier.normalize('NFC').trim().toLowerCase();
  // Keys must fit the 400-character column; a very long identifier is counted under its hash.
  return [...id].length > MAX_IDENTIFIER ? `sha256:${createHash('sha256').update(id).digest('hex')}` : id;
}

function validate(rule: ThrottleRule): void {
  if (!Number.isInteger(rule.max) || rule.max < 1) throw new RangeError('throttle max must be a positive integer');
  if (!(rule.windowMs > 0)) throw new RangeError('throttle windowMs must be positive');
  if (!(rule.blockMs >= 0)) throw new RangeError('throttle blockMs must not be negative');
}

interface RawRow { count: number | string; window_ends_at: Date | string; blocked_until: Date | string | null }

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

export function createThrottle({ store, clock }: { store: Store; clock: Clock }) {
  const { sequelize } = store;

  function stateOf(row: RawRow | undefined, rule: ThrottleRule, now: Date, hit: boolean): ThrottleState {
    if (!row) return { allowed: true, count: 0, blockedUntil: null, justBlocked: false, resetsAt: null };
    const windowEndsAt = toDate(row.window_ends_at) as Date;
    const live = windowEndsAt.getTime() > now.getTime();
    const count = live ? Number(row.count) : 0;
    const blocked = toDate(row.blocked_until);
    const blockedUntil = blocked && blocked.getTime() > now.getTime() ? blocked : null;
    return {
      allowed: blockedUntil === null && count <= rule.max,
      count,
      blockedUntil,
      justBlocked: hit && rule.blockMs > 0 && count === rule.max + 1,
      resetsAt: live ? windowEndsAt : null,
    };
  }

  async function deleted(sql: string, replacements: Record<string, unknown>, t?: Transaction): Promise<number> {
    // BULKDELETE makes both dialects answer with the number of deleted rows.
    const n: unknown = await sequelize.query(sql, { replacements, type: QueryTypes.BULKDELETE, transaction: t });
    return Number(n);
  }

  /** Counts one hit against `key` and says whether the request may go on. */
  async function hit(key: string, rule: ThrottleRule, t?: Transaction): Promise<ThrottleState> {
    validate(rule);
    const now = clock.now();
    const windowEnd = new Date(now.getTime() + rule.windowMs);
    const blockEnd = new Date(now.getTime() + rule.blockMs);
    const blocks = rule.blockMs > 0 ? 1 : 0;
    // Old-row values (`throttles.*`) are read in every SET expression, on both databases, so the
    // three columns change together from one consistent snapshot of the row.
    // The leading comment keeps Sequelize's SQLite driver from treating this as a plain INSERT
    // (which would drop the RETURNING rows).
    const rows = await sequelize.query<RawRow>(
      `/* throttle hit */ INSERT INTO throttles (key, count, window_ends_at, blocked_until)
       VALUES (:key, 1, :windowEnd, NULL)
       ON CONFLICT (key) DO UPDATE SET
         count = CASE WHEN throttles.window_ends_at <= :now THEN 1 ELSE throttles.count + 1 END,
         window_ends_at = CASE
           WHEN throttles.window_ends_at <= :now THEN :windowEnd
           WHEN :blocks = 1 AND throttles.count + 1 = :over THEN :blockEnd
           ELSE throttles.window_ends_at END,
         blocked_until = CASE
           WHEN throttles.window_ends_at <= :now THEN NULL
           WHEN :blocks = 1 AND throttles.count + 1 = :over THEN :blockEnd
           ELSE throttles.blocked_until END
       RETURNING count, window_ends_at, blocked_until`,
      {
        replacements: { key, now, windowEnd, blockEnd, blocks, over: rule.max + 1 },
        type: QueryTypes.SELECT,
        transaction: t,
      },
    );
    return stateOf(rows[0], rule, now, true);
  }

  /** The state of `key` without counting a hit. */
  async function peek(key: string, rule: ThrottleRule, t?: Transaction): Promise<ThrottleState> {
    validate(rule);
    const rows = await sequelize.query<RawRow>(
      'SELECT count, window_ends_at, blocked_until FROM throttles WHERE key = :key',
      { replacements: { key }, type: QueryTypes.SELECT, transaction: t },
    );
    return stateOf(rows[0], rule, clock.now(), false);
  }

  /**
   * The states of several keys without counting a hit, in one statement (the sign-in guard reads two
   * per attempt). In the order given.
   */
  async function peekMany(items: ReadonlyArray<{ key: string; rule: ThrottleRule }>, t?: Transaction): Promise<ThrottleState[]> {
    for (const { rule } of items) validate(rule);
    if (items.length === 0) return [];
    // A prepared statement, not Sequelize's query layer: the sign-in check runs it on every sign-in.
    const keys = items.map((i) => i.key);
    const rows = await fastSql(sequelize).all<RawRow & { key: string }>(
      `SELECT key, count, window_ends_at, blocked_until FROM throttles WHERE key IN (${keys.map((_, i) => `$${i + 1}`).join(', ')})`,
      keys,
      t,
    );
    const byKey = new Map(rows.map((r) => [r.key, r]));
    const now = clock.now();
    return items.map(({ key, rule }) => stateOf(byKey.get(key), rule, now, false));
  }

  /** Forgets one counter (a successful reset, or an admin's unblock). */
  async function reset(key: string, t?: Transaction): Promise<void> {
    await store.models.Throttle.destroy({ where: { key }, transaction: t });
  }

  /** Forgets every counter whose key starts with `prefix`; returns how many. */
  async function resetPrefix(prefix: string, t?: Transaction): Promise<number> {
    return deleted("DELETE FROM throttles WHERE key LIKE :pattern ESCAPE '\\'", { pattern: `${escapeLike(prefix)}%` }, t);
  }

  /** Deletes counters whose window and block are both over; returns how many. */
  async function purgeExpired(t?: Transaction): Promise<number> {
    return deleted(
      'DELETE FROM throttles WHERE window_ends_at <= :now AND (blocked_until IS NULL OR blocked_until <= :now)',
      { now: clock.now() },
      t,
    );
  }

  return { hit, peek, peekMany, reset, resetPrefix, purgeExpired, keysFor };
}
