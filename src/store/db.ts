import { Sequelize, Transaction } from 'sequelize';
import { prepareSqliteFiles, secureSqliteFiles, type Warn } from '../file-modes.ts';
import { sqliteDriver } from './sqlite-driver.ts';

export interface DatabaseOptions {
  url: string;
  /** Called with each SQL statement; tests count queries through it. */
  onQuery?: (sql: string) => void;
  poolMax?: number;
  /** Told when a file's mode had to be tightened or could not be (SQLite); default: silent. */
  warn?: Warn;
}

/**
 * Opens the database. SQLite gets WAL, a busy timeout and IMMEDIATE write transactions so
 * concurrent requests queue for the write lock instead of failing with SQLITE_BUSY, and its folder
 * and files are private to this user (src/store/file-modes.ts).
 */
export async function openDatabase(options: DatabaseOptions): Promise<Sequelize> {
  const logging = options.onQuery ? (sql: string) => options.onQuery?.(sql) : false;
  let sequelize: Sequelize;
  if (options.url.startsWith('sqlite:')) {
    const storage = options.url.slice('sqlite:'.length);
    const warn = options.warn ?? (() => undefined);
    if (storage !== ':memory:') prepareSqliteFiles(storage, warn);
    sequelize = new Sequelize({
      dialect: 'sqlite',
      dialectModule: sqliteDriver,
      storage,
      logging,
      transactionType: Transaction.TYPES.IMMEDIATE,
      // One connection: SQLite serialises writers anyway, and a single handle keeps PRAGMAs in force.
      pool: { max: 1, min: 0, idle: 60_000 },
      retry: { max: 10, match: [/SQLITE_BUSY/] },
    });
    applyPragmasToEveryConnection(sequelize);
    // WAL is a property of the file; the per-connection settings follow in the hook above.
    await sequelize.query('PRAGMA journal_mode = WAL');
    // -wal and -shm exist now; left over from an older version they may still be world-readable.
    if (storage !== ':memory:') secureSqliteFiles(storage, warn);
  } else {
    sequelize = new Sequelize(options.url, {
      dialect: 'postgres',
      logging,
      pool: { max: options.poolMax ?? 10, min: 0, idle: 10_000 },
    });
    await sequelize.authenticate();
  }
  return sequelize;
}

/**
 * How long one statement waits for another process's write lock (the CLI's). node:sqlite waits on
 * the event loop's thread, so the wait is short; past it, SQLITE_BUSY is retried asynchronously
 * (Sequelize's `retry` above, fast-sql's retrying) with the loop free in between, ≈ 5 s in all.
 */
export const SQLITE_BUSY_TIMEOUT_MS = 250;

/**
 * WAL pages between automatic checkpoints (SQLite's default: 1 000, ≈ 50 sign-ins). A checkpoint
 * copies every page the WAL holds into the database file and syncs both files; the hot pages of a
 * sign-in (the newest table leaves, index leaves near the right edge, interior pages) are written
 * again and again, so a longer WAL copies each of them once for many sign-ins, and syncs ten times
 * less often. Replaying one sign-in's statements (bench/RESULTS.md): ≈ 45 µs less CPU and ≈ 90 µs
 * less waiting on the event loop a sign-in. The price: the WAL file grows to ≈ 40 MB and stays
 * that size (SQLite reuses it from the start after each checkpoint) until the hourly housekeeping
 * empties it, and the COMMIT that fills it holds the event loop for the copy and its two syncs,
 * 25–65 ms depending on the disk, once in ≈ 500 sign-ins under load (sqlite-truncate-log.ts says why
 * not on a thread of its own).
 */
export const SQLITE_WAL_CHECKPOINT_PAGES = 10_000;

interface SqliteHandle { run(sql: string): void }
interface SqliteConnectionManager { getConnection(options: unknown): Promise<SqliteHandle> }

/**
 * Sequelize's SQLite dialect opens a new connection per transaction, and busy_timeout and
 * synchronous are per connection: set them on every connection it opens, before its first query
 * (statements on a handle run in call order).
 */
function applyPragmasToEveryConnection(sequelize: Sequelize): void {
  const manager = (sequelize as unknown as { connectionManager: SqliteConnectionManager }).connectionManager;
  const original = manager.getConnection.bind(manager);
  const seen = new WeakSet<SqliteHandle>();
  manager.getConnection = async (options: unknown) => {
    const connection = await original(options);
    if (!seen.has(connection)) {
      seen.add(connection);
      connection.run(`PRAGMA busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
      connection.run('PRAGMA synchronous = NORMAL');
      connection.run('PRAGMA foreign_keys = ON');
      // Deleted and overwritten rows (sessions, code hashes, message bodies) are zeroed on their
      // pages instead of lingering in free space until reused, where a copy of the file would keep them.
      connection.run('PRAGMA secure_delete = ON');
      connection.run(`PRAGMA wal_autocheckpoint = ${SQLITE_WAL_CHECKPOINT_PAGES}`);
    }
    return connection;
  };
}

export function dialectOf(sequelize: Sequelize): 'sqlite' | 'postgres' {
  return sequelize.getDialect() === 'sqlite' ? 'sqlite' : 'postgres';
}
