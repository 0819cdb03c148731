import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { GroupCommit, statementKind, type StatementKind } from './sqlite-group-commit.ts';
import { isReadOnly, numberedParameters, plainRows, rowBuilder, runStatement, toSqliteError, SqliteError, type RowBuilder, type StatementParams } from './sqlite-values.ts';
import { gateFor, WriteGate } from './sqlite-write-gate.ts';

export { numberedParameters, SqliteError };

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
 * inside a transaction, a write (or BEGIN) on another connection waits, asynchronously, for the
 * COMMIT or ROLLBACK (sqlite-write-gate.ts). Reads go ahead (WAL readers never wait for the writer). busy_timeout is
 * then only ever spent on other processes (the CLI), which hold the lock for milliseconds.
 */

export const OPEN_READONLY = 1;
export const OPEN_READWRITE = 2;
export const OPEN_CREATE = 4;

type Callback<T = void> = (this: Statement, err: Error | null, result?: T) => void;

/** What sqlite3 hands a `run` callback as `this`; Sequelize reads `lastID` and `changes` from it. */
export class Statement {
  readonly lastID?: number;
  readonly changes?: number;
  constructor(lastID?: number, changes?: number) {
    this.lastID = lastID;
    this.changes = changes;
  }
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

  run(sql: string, params?: StatementParams | Callback, callback?: Callback): this {
    const [p, cb] = typeof params === 'function' ? [undefined, params] : [params, callback];
    this.when(sql, (err) => {
      if (err) return cb?.call(new Statement(), err);
      let result: { lastInsertRowid: number | bigint; changes: number | bigint };
      try {
        this.groupCommit?.before(this.kindOf(sql));
        result = runStatement(this.prepare(sql), p, 'run');
      } catch (e) {
        return this.finish(cb, new Statement(), toSqliteError(e));
      }
      this.finish(cb, new Statement(Number(result.lastInsertRowid), Number(result.changes)), null);
    });
    return this;
  }

  all<T = Record<string, unknown>>(sql: string, params?: StatementParams | Callback<T[]>, callback?: Callback<T[]>): this {
    const [p, cb] = typeof params === 'function' ? [undefined, params] : [params, callback];
    this.when(sql, (err) => {
      if (err) return cb?.call(new Statement(), err);
      let rows: Record<string, unknown>[];
      try {
        this.groupCommit?.before(this.kindOf(sql));
        rows = plainRows(runStatement(this.prepare(sql), p, 'all'));
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
      const rows = runStatement<unknown[][]>(stmt, params, 'all');
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
    return this.cached(sql, Array.isArray(params), (stmt) => Number(runStatement<{ changes: number | bigint }>(stmt, params, 'run').changes));
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
