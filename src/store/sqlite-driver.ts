import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import { GroupCommit, statementKind, type StatementKind } from './sqlite-group-commit.ts';

/**
 * The part of the `sqlite3` package's API that Sequelize's SQLite dialect uses, on Node's built-in
 * `node:sqlite`. Passed to Sequelize as `dialectModule`.
 *
 * Why: `sqlite3` runs every statement on a libuv pool thread. Those are the threads argon2 hashes on,
 * so under sign-in load a 5 µs lookup waited behind 27 ms hashes, and each statement cost ≈ 40 µs of
 * CPU in thread hand-offs and N-API conversions (`npm run bench`, bench/RESULTS.md). `node:sqlite`
 * runs a statement on the calling thread in a few µs. It also ships inside Node, so `npm ci` no
 * longer compiles a native SQLite.
 *
 * What synchronous statements change: a statement that has to wait for SQLite's write lock would
 * block the whole event loop, and the transaction holding that lock could never reach its COMMIT. So
 * this process's connections to one file share a write gate in JavaScript: while one connection is
 * inside a transaction, a write (or BEGIN) on another connection waits here, asynchronously, for
 * the COMMIT or ROLLBACK. Reads go ahead (WAL readers never wait for the writer). busy_timeout is
 * then only ever spent on other processes (the CLI), which hold the lock for milliseconds.
 */

export const OPEN_READONLY = 1;
export const OPEN_READWRITE = 2;
export const OPEN_CREATE = 4;

/** How long a statement waits for another connection's transaction before failing as SQLITE_BUSY. */
const GATE_TIMEOUT_MS = 5000;

type Callback<T = void> = (this: Statement, err: Error | null, result?: T) => void;
type Params = readonly unknown[] | Record<string, unknown> | undefined;

/** What sqlite3 hands a `run` callback as `this`; Sequelize reads `lastID` and `changes` from it. */
export class Statement {
  readonly lastID?: number;
  readonly changes?: number;
  constructor(lastID?: number, changes?: number) {
    this.lastID = lastID;
    this.changes = changes;
  }
}

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

function toSqliteError(err: unknown): SqliteError {
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

function run<T>(stmt: StatementSync, params: Params, method: 'all' | 'run'): T {
  if (params === undefined) return stmt[method]() as T;
  if (Array.isArray(params)) return stmt[method](...params.map(bindable)) as T;
  const named: Record<string, SQLInputValue> = {};
  for (const key of Object.keys(params)) named[key] = bindable((params as Record<string, unknown>)[key]);
  return stmt[method](named) as T;
}

/** Makes array rows into objects with these keys, in this order; `width` is how many. */
type RowBuilder = ((row: readonly unknown[]) => Record<string, unknown>) & { readonly width: number };

/**
 * One builder per statement: an object literal with the statement's column names, so every row of
 * it gets the same shape at once (a loop of keyed stores went megamorphic across statements and
 * cost as much as node:sqlite's own row objects). The names are JSON string literals: whatever a
 * column is called, it is a key, never code. `__proto__` is written as a computed key, which makes
 * an own property (as a plain one it would set the row's prototype). A duplicate name keeps the last
 * value, as node:sqlite's rows do.
 */
function rowBuilder(names: readonly string[]): RowBuilder {
  const fields = names.map((name, i) => `${name === '__proto__' ? '["__proto__"]' : JSON.stringify(name)}: row[${i}]`).join(', ');
  return Object.assign(new Function('row', `return { ${fields} };`), { width: names.length }) as RowBuilder;
}

/** Rows as sqlite3 returns them: plain objects (node:sqlite's have no prototype), BLOBs as Buffers. */
function plainRows(rows: Record<string, unknown>[]): Record<string, unknown>[] {
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
const isReadOnly = (sql: string) => READ_ONLY_SQL.test(sql);

/** One per database file: which of this process's connections is inside a transaction, and who waits. */
class WriteGate {
  holder: Database | null = null;
  /** Transactions of this process's connections that ended: a shared read snapshot older than one is stale. */
  ended = 0;
  private waiting: { go: () => void }[] = [];

  blocks(db: Database, sql: string): boolean {
    if (this.holder === null || this.holder === db || isReadOnly(sql)) return false;
    // The kept connection's group commit never makes another connection wait: it commits now.
    if (this.holder.hasOpenGroup) {
      try {
        this.holder.commitGroup();
      } catch {
        // Marked failed on the group; the gate is free either way.
      }
    }
    return this.holder !== null && this.holder !== db;
  }

  wait(go: () => void, fail: (err: Error) => void): void {
    const entry = { go: () => { clearTimeout(timer); go(); } };
    const timer = setTimeout(() => {
      this.waiting = this.waiting.filter((w) => w !== entry);
      fail(new SqliteError('SQLITE_BUSY', 5, 'database is locked (another transaction of this process held it too long)'));
    }, GATE_TIMEOUT_MS);
    this.waiting.push(entry);
  }

  /** After a statement: take or give back the gate by whether the connection is now inside a transaction. */
  settle(db: Database): void {
    if (db.handle.isOpen && db.handle.isTransaction) {
      this.holder ??= db;
      return;
    }
    if (this.holder !== db) return;
    this.holder = null;
    this.ended += 1;
    // Everything that waited runs in order; the first BEGIN takes the gate and the rest queue again.
    const ready = this.waiting;
    this.waiting = [];
    for (const w of ready) w.go();
  }
}

const gates = new Map<string, WriteGate>();

function gateFor(filename: string): WriteGate {
  let gate = gates.get(filename);
  if (!gate) {
    gate = new WriteGate();
    gates.set(filename, gate);
  }
  return gate;
}

/** A connection, as `sqlite3.Database`. */
export class Database {
  readonly filename: string;
  readonly handle: DatabaseSync;
  /** Set by Sequelize on a transaction's own connection. */
  uuid?: string;
  private readonly gate: WriteGate;
  private groupCommit?: GroupCommit;
  private readonly prepared = new Map<string, StatementSync>();
  private readonly preparedNumbered = new Map<string, StatementSync>();
  /** The statements `cachedAll` has run (they return rows as arrays), with what makes them objects. */
  private readonly rowBuilders = new WeakMap<StatementSync, RowBuilder>();
  /** Each SQL text's kind for the group commit, worked out once (the hot statements repeat). */
  private readonly kinds = new Map<string, StatementKind>();

  constructor(filename: string, mode?: number | Callback, callback?: Callback) {
    const cb = typeof mode === 'function' ? mode : callback;
    const flags = typeof mode === 'number' ? mode : OPEN_READWRITE | OPEN_CREATE;
    this.filename = filename;
    const memory = filename === ':memory:' || filename === '';
    // A private gate for in-memory databases: each connection is its own database.
    this.gate = memory ? new WriteGate() : gateFor(resolve(filename));
    let error: Error | null = null;
    try {
      if (!memory && (flags & OPEN_CREATE) === 0 && !existsSync(filename)) {
        throw new SqliteError('SQLITE_CANTOPEN', 14, 'unable to open database file');
      }
      this.handle = new DatabaseSync(filename, { readOnly: (flags & OPEN_READWRITE) === 0 });
    } catch (err) {
      error = toSqliteError(err);
      this.handle = new DatabaseSync(':memory:', { open: false });
    }
    if (cb) process.nextTick(() => cb.call(new Statement(), error));
    else if (error) throw error;
  }

  /** Writes outside an explicit transaction share commits from now on (sqlite-group-commit.ts). */
  enableGroupCommit(): void {
    this.groupCommit ??= new GroupCommit(this.handle, () => this.gate.settle(this), () => this.gate.ended);
  }

  get hasOpenGroup(): boolean {
    return this.groupCommit?.isOpen ?? false;
  }

  /** Commits the writes pending in this connection's group (none: nothing); throws when the COMMIT fails. */
  commitGroup(): void {
    this.groupCommit?.commit();
  }

  /** sqlite3 queues a handle's statements in order; ours run in call order already. */
  serialize(fn?: () => void): void {
    fn?.();
  }

  run(sql: string, params?: Params | Callback, callback?: Callback): this {
    const [p, cb] = typeof params === 'function' ? [undefined, params] : [params, callback];
    this.when(sql, (err) => {
      if (err) return cb?.call(new Statement(), err);
      let result: { lastInsertRowid: number | bigint; changes: number | bigint };
      try {
        this.groupCommit?.before(this.kindOf(sql));
        result = run(this.prepare(sql), p, 'run');
      } catch (e) {
        return this.finish(cb, new Statement(), toSqliteError(e));
      }
      this.finish(cb, new Statement(Number(result.lastInsertRowid), Number(result.changes)), null);
    });
    return this;
  }

  all<T = Record<string, unknown>>(sql: string, params?: Params | Callback<T[]>, callback?: Callback<T[]>): this {
    const [p, cb] = typeof params === 'function' ? [undefined, params] : [params, callback];
    this.when(sql, (err) => {
      if (err) return cb?.call(new Statement(), err);
      let rows: Record<string, unknown>[];
      try {
        this.groupCommit?.before(this.kindOf(sql));
        rows = plainRows(run(this.prepare(sql), p, 'all'));
      } catch (e) {
        return this.finish(cb, new Statement(), toSqliteError(e));
      }
      this.finish(cb, new Statement(), null, rows as T[]);
    });
    return this;
  }

  exec(sql: string, callback?: Callback): this {
    this.when(sql, (err) => {
      if (err) return callback?.call(new Statement(), err);
      try {
        this.groupCommit?.commit();
        this.handle.exec(sql);
      } catch (e) {
        return this.finish(callback, new Statement(), toSqliteError(e));
      }
      this.finish(callback, new Statement(), null);
    });
    return this;
  }

  close(callback?: (err: Error | null) => void): void {
    let error: Error | null = null;
    try {
      this.groupCommit?.commit();
      this.prepared.clear();
      this.preparedNumbered.clear();
      if (this.handle.isOpen) this.handle.close();
    } catch (e) {
      error = toSqliteError(e);
    }
    this.gate.settle(this);
    if (callback) process.nextTick(callback, error);
  }

  /**
   * The hot path (src/store/fast-sql.ts): a statement prepared once per SQL text on this connection,
   * rows as plain objects of the values node:sqlite gives (no conversion). With an array, the SQL's
   * `$n` parameters are bound by number (prepared as SQLite's `?n`: no per-call object of names and
   * no name look-ups); with an object, by name.
   */
  cachedAll<T>(sql: string, params: readonly unknown[] | Record<string, unknown>): Promise<T[]> {
    return this.cached(sql, Array.isArray(params), (stmt) => {
      // Rows as arrays, made into objects here: node:sqlite's own row objects look every column
      // name up in V8's string table and build a fresh map for each row (perf: ≈ 40 µs a sign-in,
      // whose three account reads return some twenty columns each).
      let build = this.rowBuilders.get(stmt);
      if (!build) stmt.setReturnArrays(true);
      const rows = run<unknown[][]>(stmt, params, 'all');
      // The names are read on first use, and again when a row comes back of another width: SQLite
      // prepares a statement again after a schema change (another process's migration).
      if (!build || (rows.length > 0 && rows[0]!.length !== build.width)) {
        build = rowBuilder(stmt.columns().map((c) => c.name));
        this.rowBuilders.set(stmt, build);
      }
      return rows.map(build) as T[];
    });
  }

  /** As `cachedAll`, for a write; resolves to the number of changed rows. */
  cachedRun(sql: string, params: readonly unknown[] | Record<string, unknown>): Promise<number> {
    return this.cached(sql, Array.isArray(params), (stmt) => Number(run<{ changes: number | bigint }>(stmt, params, 'run').changes));
  }

  private cached<T>(sql: string, positional: boolean, use: (stmt: StatementSync) => T): Promise<T> {
    const exec = (): T => {
      const cache = positional ? this.preparedNumbered : this.prepared;
      let stmt = cache.get(sql);
      if (!stmt) {
        stmt = this.prepare(positional ? numberedParameters(sql) : sql);
        cache.set(sql, stmt);
      }
      try {
        this.groupCommit?.before(this.kindOf(sql));
        return use(stmt);
      } finally {
        this.groupCommit?.after();
        this.gate.settle(this);
      }
    };
    if (!this.gate.blocks(this, sql)) {
      try {
        return Promise.resolve(exec());
      } catch (e) {
        return Promise.reject(toSqliteError(e));
      }
    }
    return new Promise<T>((resolvePromise, reject) => {
      this.gate.wait(() => {
        if (this.gate.blocks(this, sql)) return this.cached(sql, positional, use).then(resolvePromise, reject);
        try {
          resolvePromise(exec());
        } catch (e) {
          reject(toSqliteError(e));
        }
      }, reject);
    });
  }

  private kindOf(sql: string): StatementKind {
    let kind = this.kinds.get(sql);
    if (kind === undefined) {
      kind = statementKind(sql, isReadOnly(sql));
      if (this.kinds.size < 1000) this.kinds.set(sql, kind);
    }
    return kind;
  }

  /** sqlite3 ignores named parameters a statement does not use; node:sqlite refuses them unless told. */
  private prepare(sql: string): StatementSync {
    const stmt = this.handle.prepare(sql);
    stmt.setAllowUnknownNamedParameters(true);
    return stmt;
  }

  /** Runs `go` now, or once no other connection of this process is inside a transaction (for writes). */
  private when(sql: string, go: (err: Error | null) => void): void {
    if (!this.handle.isOpen) {
      process.nextTick(go, new SqliteError('SQLITE_MISUSE', 21, 'Database is closed'));
      return;
    }
    if (!this.gate.blocks(this, sql)) {
      go(null);
      return;
    }
    this.gate.wait(() => this.when(sql, go), (err) => go(err));
  }

  /** Settles the gate, then calls back asynchronously, as sqlite3 does. */
  private finish<T>(cb: Callback<T> | undefined, self: Statement, err: Error | null, result?: T): void {
    this.groupCommit?.after();
    this.gate.settle(this);
    if (cb) process.nextTick(() => cb.call(self, err, result));
  }
}

/** The module object Sequelize loads in place of `sqlite3`. */
export const sqliteDriver = { Database, OPEN_READONLY, OPEN_READWRITE, OPEN_CREATE, verbose: () => sqliteDriver };
