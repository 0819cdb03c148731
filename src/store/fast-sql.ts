import type { Sequelize, Transaction } from 'sequelize';
import type { Database } from './sqlite-driver.ts';

/**
 * A driver-level path for the few hot statements (provider adapter, account read by id/identifier):
 * `sequelize.query` costs ≈ 0.1 ms of CPU per statement above the driver (an `Error` per query for
 * its stack, lodash, option handling), a large share of a userinfo (3 statements) or a refresh (6).
 *
 * It runs on the very connections Sequelize uses for statements outside a transaction:
 * - SQLite: the 'default' connection of src/store/sqlite-driver.ts (same busy_timeout/PRAGMAs, same
 *   write gate), with one prepared statement per SQL text cached on it. Reads use `all` (steps to
 *   SQLITE_DONE), so no statement stays open holding a read snapshot.
 * - PostgreSQL: a client acquired from and released to Sequelize's pool, named prepared queries.
 * Statements are still reported to Sequelize's `logging` ("Executing (default): …"), SQLITE_BUSY is
 * retried as Sequelize's `retry` option does. SQL uses `$n` parameters on both databases.
 */
export interface FastSql {
  /** Rows of a SELECT; inside `transaction`, on that transaction's connection (it sees its writes). */
  all<T>(sql: string, params: readonly unknown[], transaction?: Transaction | null): Promise<T[]>;
  /**
   * Runs a write; resolves to the number of changed rows. Inside `transaction` it runs on that
   * transaction's own connection, so it commits or rolls back with the rest of it.
   */
  run(sql: string, params: readonly unknown[], transaction?: Transaction | null): Promise<number>;
  /**
   * SQLite: from now on, writes on the kept connection share commits (src/store/sqlite-group-commit.ts).
   * Only for a caller that then commits at the end of each request (`Store.groupWritesPerRequest`).
   * PostgreSQL: nothing changes.
   */
  groupCommits(): void;
  /**
   * Commits the writes waiting in SQLite's group commit now; PostgreSQL commits each statement as it
   * runs. Throws when the COMMIT fails.
   */
  commitPending(): void;
}

/** The connection Sequelize holds for a transaction (a sqlite-driver Database, or a pg client). */
const connectionOf = (t: Transaction): unknown => (t as unknown as { connection: unknown }).connection;

interface PgClient {
  query(q: { name: string; text: string; values: unknown[] }): Promise<{ rows: unknown[]; rowCount: number | null }>;
}
interface ConnectionManager {
  getConnection(options: { type: 'read' | 'write'; uuid?: string }): Promise<unknown>;
  releaseConnection(connection: unknown): void | Promise<void>;
}

const bySequelize = new WeakMap<Sequelize, FastSql>();

export function fastSql(sequelize: Sequelize): FastSql {
  let fast = bySequelize.get(sequelize);
  if (!fast) {
    fast = sequelize.getDialect() === 'sqlite' ? sqliteFastSql(sequelize) : postgresFastSql(sequelize);
    bySequelize.set(sequelize, fast);
  }
  return fast;
}

function logger(sequelize: Sequelize): (sql: string) => void {
  const logging = (sequelize as unknown as { options: { logging?: unknown } }).options.logging;
  if (typeof logging !== 'function') return () => undefined;
  return (sql) => (logging as (msg: string, options: object) => void)(`Executing (default): ${sql}`, {});
}

function manager(sequelize: Sequelize): ConnectionManager {
  return (sequelize as unknown as { connectionManager: ConnectionManager }).connectionManager;
}

function sqliteFastSql(sequelize: Sequelize): FastSql {
  const log = logger(sequelize);
  const connections = manager(sequelize);
  // The same handle `sequelize.query` takes outside a transaction (uuid 'default').
  // Kept between statements (asking the connection manager each time is a few µs per statement);
  // asked again once Sequelize has closed it.
  let kept: Database | undefined;
  let grouped = false;
  const connection = async (type: 'read' | 'write') => {
    if (kept?.handle.isOpen) return kept;
    kept = (await connections.getConnection({ type, uuid: 'default' })) as Database;
    if (grouped) kept.enableGroupCommit();
    return kept;
  };

  /** Values for the `$n` parameters, by number (the driver prepares them as `?n`); bigints as Sequelize binds them. */
  function values(params: readonly unknown[]): readonly unknown[] {
    for (const p of params) if (typeof p === 'bigint') return params.map((v) => (typeof v === 'bigint' ? String(v) : v));
    return params;
  }
  const busy = (err: unknown) => /SQLITE_BUSY/.test(String((err as Error)?.message));

  async function retrying<T>(attempt: () => Promise<T>): Promise<T> {
    // As Sequelize's `retry: { max: 10, match: [/SQLITE_BUSY/] }` in db.ts.
    for (let tries = 1; ; tries++) {
      try {
        return await attempt();
      } catch (err) {
        if (tries >= 10 || !busy(err)) throw err;
        await new Promise((r) => setTimeout(r, 100 * 1.1 ** tries));
      }
    }
  }

  return {
    all<T>(sql: string, params: readonly unknown[], transaction?: Transaction | null): Promise<T[]> {
      log(sql);
      const bound = values(params);
      if (transaction) return (connectionOf(transaction) as Database).cachedAll<T>(sql, bound);
      // The kept connection, straight (every statement of a request comes here); the retrying path
      // only after a SQLITE_BUSY, or to (re)open the connection.
      if (kept?.handle.isOpen) return kept.cachedAll<T>(sql, bound).catch((err: unknown) => (busy(err) ? retrying(async () => (await connection('read')).cachedAll<T>(sql, bound)) : Promise.reject(err)));
      return retrying(async () => (await connection('read')).cachedAll<T>(sql, bound));
    },
    run(sql: string, params: readonly unknown[], transaction?: Transaction | null): Promise<number> {
      log(sql);
      const bound = values(params);
      // No retry inside a transaction: it already holds the write lock, and a failure fails it whole.
      if (transaction) return (connectionOf(transaction) as Database).cachedRun(sql, bound);
      if (kept?.handle.isOpen) return kept.cachedRun(sql, bound).catch((err: unknown) => (busy(err) ? retrying(async () => (await connection('write')).cachedRun(sql, bound)) : Promise.reject(err)));
      return retrying(async () => (await connection('write')).cachedRun(sql, bound));
    },
    groupCommits() {
      grouped = true;
      if (kept?.handle.isOpen) kept.enableGroupCommit();
    },
    commitPending() {
      if (kept?.handle.isOpen) kept.commitGroup();
    },
  };
}

function postgresFastSql(sequelize: Sequelize): FastSql {
  const log = logger(sequelize);
  const connections = manager(sequelize);
  // pg prepares a named query once per client and reuses it on that client afterwards.
  const names = new Map<string, string>();
  const nameOf = (sql: string) => {
    let name = names.get(sql);
    if (!name) {
      name = `sspr_fast_${names.size + 1}`;
      names.set(sql, name);
    }
    return name;
  };

  async function query(sql: string, params: readonly unknown[], type: 'read' | 'write', transaction?: Transaction | null) {
    log(sql);
    const named = { name: nameOf(sql), text: sql, values: params as unknown[] };
    // Inside a transaction: its own client, which Sequelize releases at COMMIT or ROLLBACK.
    if (transaction) return (connectionOf(transaction) as PgClient).query(named);
    const client = (await connections.getConnection({ type })) as PgClient;
    try {
      return await client.query(named);
    } finally {
      await connections.releaseConnection(client);
    }
  }

  return {
    async all<T>(sql: string, params: readonly unknown[], transaction?: Transaction | null) {
      return (await query(sql, params, 'read', transaction)).rows as T[];
    },
    async run(sql: string, params: readonly unknown[], transaction?: Transaction | null) {
      return (await query(sql, params, 'write', transaction)).rowCount ?? 0;
    },
    groupCommits() {
      // Every statement outside a transaction commits as it runs.
    },
    commitPending() {
      // Nothing waits.
    },
  };
}
