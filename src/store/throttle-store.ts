import { QueryTypes } from 'sequelize';
import type { ThrottleCounter, ThrottleStore, TransactionHandle } from '../sspr/ports.ts';
import { fastSql } from './fast-sql.ts';
import { transactionOf, type Store } from './index.ts';
import { dateParamFor, sqliteDateMs } from './sql.ts';
import { commitWithThisRequest } from './sqlite-group-commit.ts';

/**
 * Throttle counters (`throttles`), all in plain SQL: the hit must be one atomic upsert
 * (`INSERT … ON CONFLICT DO UPDATE … RETURNING`), which no model call expresses, so the rest of the
 * table is plain SQL too. The statements every sign-in and flow step runs (the hit, reads, clearing)
 * are prepared statements (fastSql); the rare ones (blocks, purges, admin look-ups) go through
 * `sequelize.query` with named replacements.
 */

interface RawRow { key: string; count: number | string; window_ends_at: Date | string; blocked_until: Date | string | null; strikes?: number | string }

/** SQLite hands back the stored text ('YYYY-MM-DD HH:MM:SS.SSS +00:00'); PostgreSQL a Date. */
function toDate(v: Date | string | null): Date | null {
  if (v === null) return null;
  if (v instanceof Date) return v;
  const ms = sqliteDateMs(v);
  if (ms !== null) return new Date(ms);
  const m = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?)\s*(Z|[+-]\d{2}:?\d{2})?$/.exec(v.trim());
  const d = m ? new Date(`${m[1]}T${m[2]}${m[3] ?? 'Z'}`) : new Date(v);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable date in throttles: ${v}`);
  return d;
}

function toCounter(row: RawRow): ThrottleCounter {
  return {
    key: row.key,
    count: Number(row.count),
    windowEndsAt: toDate(row.window_ends_at) as Date,
    blockedUntil: toDate(row.blocked_until),
    strikes: Number(row.strikes ?? 0),
  };
}

function escapeLike(s: string): string {
  return s.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** Keys in the order of their UTF-8 bytes: PostgreSQL's `ORDER BY key COLLATE "C"`, whatever the database's collation. */
const byLockOrder = (a: string, b: string): number => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

/** `$1, $2, …` for a fastSql `IN (…)`: a sign-in's few key counts, each built once. */
const placeholderLists: string[] = [];
const placeholders = (n: number) => (placeholderLists[n] ??= Array.from({ length: n }, (_, i) => `$${i + 1}`).join(', '));

export function createThrottleStore(store: Store): ThrottleStore {
  const { sequelize } = store;
  const postgres = sequelize.getDialect() === 'postgres';
  // Parameters inside `CASE key WHEN … THEN :x` have no column to take a type from: PostgreSQL would
  // read them as text, SQLite must not cast its date text at all.
  const ts = (param: string) => (postgres ? `CAST(${param} AS TIMESTAMPTZ)` : param);
  const int = (param: string) => (postgres ? `CAST(${param} AS INTEGER)` : param);
  const date = dateParamFor(store.dialect);

  /**
   * The hit statement for `n` keys, as one prepared statement per `n` (fastSql caches it: a sign-in
   * used to spend ≈ 0.3 ms re-parsing a 2 KB statement with its values inlined by Sequelize).
   * Parameters: $1 now; hit i has $(2+6i) key, +1 window end, +2 block end, +3 memory end, +4 max,
   * +5 blocks-at.
   */
  const hitSqlCache = new Map<number, string>();
  function hitSql(n: number): string {
    let sql = hitSqlCache.get(n);
    if (sql) return sql;
    const p = (i: number, field: number) => `$${2 + 6 * i + field}`;
    const values = Array.from({ length: n }, (_, i) => `(${p(i, 0)}, 1, ${ts(p(i, 1))}, NULL, 0)`);
    // One parameter per key: itself with one key, chosen by key with several.
    const perKey = (field: number, cast: (x: string) => string) =>
      n === 1 ? cast(p(0, field)) : `(CASE throttles.key ${Array.from({ length: n }, (_, i) => `WHEN ${p(i, 0)} THEN ${cast(p(i, field))}`).join(' ')} END)`;
    const now = ts('$1');
    const expired = `throttles.window_ends_at <= ${now}`;
    const blocked = `throttles.blocked_until > ${now}`;
    // A block that is over on a row still alive: only an escalating rule keeps the row past its block.
    const afterBlock = 'throttles.blocked_until IS NOT NULL';
    const starts = `throttles.count + 1 = ${perKey(5, int)}`;
    // Old-row values (`throttles.*`) are read in every SET expression, on both databases, so the
    // columns change together from one consistent snapshot of the row. The CASE branches are in the
    // same order everywhere: window over, blocked, first hit after a block, the hit that blocks.
    sql = `INSERT INTO throttles (key, count, window_ends_at, blocked_until, strikes)
         VALUES ${values.join(', ')}
         ON CONFLICT (key) DO UPDATE SET
           count = CASE
             WHEN ${expired} THEN 1
             WHEN ${blocked} THEN throttles.count + 1
             WHEN ${afterBlock} THEN ${perKey(4, int)}
             ELSE throttles.count + 1 END,
           window_ends_at = CASE
             WHEN ${expired} THEN excluded.window_ends_at
             WHEN ${blocked} OR ${afterBlock} THEN throttles.window_ends_at
             WHEN ${starts} THEN ${perKey(3, ts)}
             ELSE throttles.window_ends_at END,
           blocked_until = CASE
             WHEN ${expired} THEN NULL
             WHEN ${blocked} THEN throttles.blocked_until
             WHEN ${afterBlock} THEN NULL
             WHEN ${starts} THEN ${perKey(2, ts)}
             ELSE throttles.blocked_until END,
           strikes = CASE
             WHEN ${expired} THEN 0
             WHEN ${blocked} OR ${afterBlock} THEN throttles.strikes
             WHEN ${starts} THEN throttles.strikes + 1
             ELSE throttles.strikes END
         RETURNING key, count, window_ends_at, blocked_until, strikes`;
    hitSqlCache.set(n, sql);
    return sql;
  }

  async function deleted(sql: string, replacements: Record<string, unknown>, t: TransactionHandle | undefined): Promise<number> {
    // BULKDELETE makes both dialects answer with the number of deleted rows.
    const n: unknown = await sequelize.query(sql, { replacements, type: QueryTypes.BULKDELETE, transaction: transactionOf(t) });
    return Number(n);
  }

  /**
   * Several rows of one statement are locked in key order, by every statement that writes several
   * by key (a hit's upsert, a clear, a refund): on PostgreSQL two statements that lock the same two
   * rows in opposite orders deadlock, and one of them fails — a successful sign-in clearing its
   * counts while another sign-in of the same account counts its own answered 500 (seen under the
   * harness load). A hit sorts its VALUES; the others name their rows through this condition, the
   * purge and an admin's unblock (by prefix) too. SQLite has one writer at a time and no such thing.
   */
  const inLockOrder = (where: string) => (postgres
    ? `key IN (SELECT key FROM throttles WHERE ${where} ORDER BY key COLLATE "C" FOR UPDATE)`
    : where);
  const keyInLockOrder = (list: string) => inLockOrder(`key IN (${list})`);

  async function remove(keys: readonly string[], t: TransactionHandle | undefined): Promise<void> {
    if (keys.length === 0) return;
    await fastSql(sequelize).run(`DELETE FROM throttles WHERE ${keyInLockOrder(placeholders(keys.length))}`, keys, transactionOf(t));
  }

  return {
    async hit(hits, now, t) {
      if (hits.length === 0) return [];
      // $1 is now; then per hit, in key order (the rows' lock order, see `remove`): key, window end,
      // block end, memory end, max, blocks-at. The rows come back by key, in any order.
      const params: unknown[] = [date(now)];
      for (const h of [...hits].sort((a, b) => byLockOrder(a.key, b.key))) params.push(h.key, date(h.windowEndsAt), date(h.blockEndsAt), date(h.memoryEndsAt), h.max, h.blocksAt);
      // A guess is counted, then checked (a password hash: tens of milliseconds), then cleared or
      // recorded: on SQLite the count commits with the request's other writes, at its end
      // (sqlite-group-commit.ts says what holds meanwhile). In a transaction of its own: with that.
      if (!t) commitWithThisRequest();
      const rows = await fastSql(sequelize).all<RawRow>(hitSql(hits.length), params, transactionOf(t));
      return rows.map(toCounter);
    },

    async lengthenBlock(key, strikes, until, memoryEndsAt, t) {
      // Only the row of that block (same strikes): the statement that started it already refuses
      // every concurrent hit, so this second write only moves the end.
      await sequelize.query(
        'UPDATE throttles SET blocked_until = :until, window_ends_at = :memory WHERE key = :key AND strikes = :strikes',
        { replacements: { until, memory: memoryEndsAt, key, strikes }, transaction: transactionOf(t) },
      );
    },

    async read(keys, t) {
      if (keys.length === 0) return [];
      // A prepared statement, not Sequelize's query layer: cheap enough for every step of a flow.
      const rows = await fastSql(sequelize).all<RawRow>(
        `SELECT key, count, window_ends_at, blocked_until FROM throttles WHERE key IN (${placeholders(keys.length)})`,
        keys,
        transactionOf(t),
      );
      return rows.map(toCounter);
    },

    async refund(keys, now, t) {
      if (keys.length === 0) return;
      await sequelize.query(
        `UPDATE throttles SET count = CASE WHEN count > 0 THEN count - 1 ELSE 0 END
         WHERE ${keyInLockOrder(':keys')} AND window_ends_at > :now AND (blocked_until IS NULL OR blocked_until <= :now)`,
        { replacements: { keys: [...keys], now }, transaction: transactionOf(t) },
      );
    },

    remove,

    removePrefix(prefix, t) {
      return deleted(`DELETE FROM throttles WHERE ${inLockOrder("key LIKE :pattern ESCAPE '\\'")}`, { pattern: `${escapeLike(prefix)}%` }, t);
    },

    async keysContaining(fragment, t) {
      // LIKE narrows (wildcards in the fragment only widen it); the caller decides.
      const rows = await sequelize.query<{ key: string }>("SELECT key FROM throttles WHERE key LIKE :pattern ESCAPE '\\'", {
        replacements: { pattern: `%${escapeLike(fragment)}%` }, type: QueryTypes.SELECT, transaction: transactionOf(t),
      });
      return rows.map((r) => r.key);
    },

    purgeExpired(now, t) {
      return deleted(
        `DELETE FROM throttles WHERE ${inLockOrder('window_ends_at <= :now AND (blocked_until IS NULL OR blocked_until <= :now)')}`,
        { now },
        t,
      );
    },
  };
}
