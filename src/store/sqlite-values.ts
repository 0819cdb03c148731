import type { SQLInputValue, StatementSync } from 'node:sqlite';

/**
 * What the SQLite driver (sqlite-driver.ts) hands between `node:sqlite` and its callers: errors
 * shaped as the `sqlite3` package shapes them, bound values, rows, and the statement's kind.
 */

/** Parameters as Sequelize and fast-sql pass them: positional, named, or none. */
export type StatementParams = readonly unknown[] | Record<string, unknown> | undefined;

const PRIMARY_CODES: Record<number, string> = {
  1: 'SQLITE_ERROR', 2: 'SQLITE_INTERNAL', 3: 'SQLITE_PERM', 4: 'SQLITE_ABORT', 5: 'SQLITE_BUSY',
  6: 'SQLITE_LOCKED', 7: 'SQLITE_NOMEM', 8: 'SQLITE_READONLY', 9: 'SQLITE_INTERRUPT', 10: 'SQLITE_IOERR',
  11: 'SQLITE_CORRUPT', 12: 'SQLITE_NOTFOUND', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 15: 'SQLITE_PROTOCOL',
  16: 'SQLITE_EMPTY', 17: 'SQLITE_SCHEMA', 18: 'SQLITE_TOOBIG', 19: 'SQLITE_CONSTRAINT', 20: 'SQLITE_MISMATCH',
  21: 'SQLITE_MISUSE', 22: 'SQLITE_NOLFS', 23: 'SQLITE_AUTH', 24: 'SQLITE_FORMAT', 25: 'SQLITE_RANGE', 26: 'SQLITE_NOTADB',
};

/** An error shaped as sqlite3 shapes them ("SQLITE_CONSTRAINT: UNIQUE constraint failed: …", `code`, `errno`): Sequelize and our retries match on those. */
export class SqliteError extends Error {
  readonly code: string;
  readonly errno: number;
  constructor(code: string, errno: number, message: string) {
    super(`${code}: ${message}`);
    this.name = 'Error';
    this.code = code;
    this.errno = errno;
  }
}

export function toSqliteError(err: unknown): SqliteError {
  if (err instanceof SqliteError) return err;
  const e = err as { errcode?: number; message?: string };
  const errno = typeof e?.errcode === 'number' ? e.errcode & 0xff : 1;
  return new SqliteError(PRIMARY_CODES[errno] ?? 'SQLITE_ERROR', errno, String(e?.message ?? err));
}

/** Values as sqlite3 binds them: booleans as 0/1, dates as milliseconds, undefined as NULL. */
function bindable(value: unknown): SQLInputValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string': case 'number': case 'bigint': return value;
    case 'boolean': return value ? 1 : 0;
    default:
      if (value instanceof Uint8Array) return value;
      if (value instanceof Date) return value.getTime();
      return String(value);
  }
}

export function runStatement<T>(stmt: StatementSync, params: StatementParams, method: 'all' | 'run'): T {
  if (params === undefined) return stmt[method]() as T;
  if (Array.isArray(params)) return stmt[method](...params.map(bindable)) as T;
  const named: Record<string, SQLInputValue> = {};
  for (const key of Object.keys(params)) named[key] = bindable((params as Record<string, unknown>)[key]);
  return stmt[method](named) as T;
}

/** Makes array rows into objects with these keys, in this order; `width` is how many. */
export type RowBuilder = ((row: readonly unknown[]) => Record<string, unknown>) & { readonly width: number };

/**
 * One builder per statement: an object literal with the statement's column names, so every row of
 * it gets the same shape at once (a loop of keyed stores went megamorphic across statements and
 * cost as much as node:sqlite's own row objects). The names are JSON string literals: whatever a
 * column is called, it is a key, never code. `__proto__` is written as a computed key, which makes
 * an own property (as a plain one it would set the row's prototype). A duplicate name keeps the last
 * value, as node:sqlite's rows do.
 */
export function rowBuilder(names: readonly string[]): RowBuilder {
  const fields = names.map((name, i) => `${name === '__proto__' ? '["__proto__"]' : JSON.stringify(name)}: row[${i}]`).join(', ');
  return Object.assign(new Function('row', `return { ${fields} };`), { width: names.length }) as RowBuilder;
}

/** Rows as sqlite3 returns them: plain objects (node:sqlite's have no prototype), BLOBs as Buffers. */
export function plainRows(rows: Record<string, unknown>[]): Record<string, unknown>[] {
  return rows.map((row) => {
    const plain: Record<string, unknown> = {};
    for (const key in row) {
      const v = row[key];
      plain[key] = v instanceof Uint8Array && !Buffer.isBuffer(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : v;
    }
    return plain;
  });
}

/**
 * `$1 … $n` (the parameters fast-sql's SQL is written with, as on PostgreSQL) as SQLite's numbered
 * `?1 … ?n`, outside quoted strings: bound positionally, argument i goes to `?i` whatever the order
 * in which they appear or how often.
 */
export function numberedParameters(sql: string): string {
  return sql.split("'").map((part, i) => (i % 2 === 1 ? part : part.replace(/\$(\d+)/g, '?$1'))).join("'");
}

const READ_ONLY_SQL = /^\s*(SELECT|PRAGMA\s+(table_info|index_list|index_info|foreign_key_list|table_xinfo)\b|EXPLAIN)\b/i;
export const isReadOnly = (sql: string) => READ_ONLY_SQL.test(sql);
