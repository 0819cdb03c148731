import { AsyncLocalStorage } from 'node:async_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Sequelize, Transaction } from 'sequelize';
import { openDatabase, type DatabaseOptions } from './db.ts';
import { migrate } from './migrate.ts';
import { defineModels, type Models } from './models.ts';
import { fastSql } from './fast-sql.ts';
import { commitBeforeReturning } from './sqlite-group-commit.ts';
import { truncateLogNow } from './sqlite-truncate-log.ts';
import type { TransactionHandle } from '../sspr/ports.ts';

export type { Transaction } from 'sequelize';
export type * from './models.ts';

export interface Store {
  sequelize: Sequelize;
  models: Models;
  dialect: 'sqlite' | 'postgres';
  /** Runs `fn` in one write transaction (IMMEDIATE on SQLite). */
  transaction<T>(fn: (t: Transaction) => Promise<T>): Promise<T>;
  /**
   * SQLite: turns on the group commit (src/store/sqlite-group-commit.ts) and returns what must then
   * wrap every request: it runs the request and commits its writes before returning, so what a
   * response reports is on disk before it goes out. Our server's outermost middleware; an embedding
   * host that does not call it keeps one commit per statement. PostgreSQL: runs the request as is.
   */
  groupWritesPerRequest(): <T>(request: () => Promise<T>) => Promise<T>;
  /**
   * SQLite: copies the write-ahead log into the database and empties the `-wal` file
   * (`wal_checkpoint(TRUNCATE)`). The log keeps old images of the pages it wrote until they are
   * written over, deleted rows included; the hourly housekeeping calls this after its purges, so what
   * was deleted is gone from the files within the hour (`secure_delete` zeroes it in the database
   * file itself). Tried again between turns of the event loop for 2 s; resolves to false when a
   * reader or a writer kept it from finishing all that time (the next housekeeping tries again).
   * PostgreSQL: nothing to do (true).
   */
  truncateLog(): Promise<boolean>;
  /** Closes the database connections. */
  close(): Promise<void>;
}

/**
 * The Sequelize transaction behind a handle SSPR passed back. Every handle SSPR holds came from
 * `Store.transaction` (the flows' unit of work), so the narrowing is sound.
 */
export function transactionOf(t: TransactionHandle | undefined): Transaction | undefined {
  return t as Transaction | undefined;
}

/** Opens the database, brings the schema up to date and defines the models. */
export async function openStore(options: DatabaseOptions & { migrate?: boolean }): Promise<Store> {
  const sequelize = await openDatabase(options);
  if (options.migrate !== false) await migrate(sequelize);
  return storeFromSequelize(sequelize);
}

/** `truncateLog`'s tries, and the wait between two (a reader or writer in the way). */
const TRUNCATE_ATTEMPTS = 40;
const TRUNCATE_RETRY_MS = 50;

/** The SQLite file Sequelize opened (`:memory:` or '' when none). */
const storageOf = (sequelize: Sequelize): string => String((sequelize as unknown as { options: { storage?: string } }).options.storage ?? '');

export function storeFromSequelize(sequelize: Sequelize): Store {
  const models = defineModels(sequelize);
  const sqlite = sequelize.getDialect() === 'sqlite';
  return {
    sequelize,
    models,
    dialect: sqlite ? 'sqlite' : 'postgres',
    transaction: sqlite ? oneWriterAtATime(sequelize) : (fn) => sequelize.transaction((t) => fn(t)),
    groupWritesPerRequest() {
      if (!sqlite) return (request) => request();
      const fast = fastSql(sequelize);
      fast.groupCommits();
      return (request) => commitBeforeReturning(() => fast.commitPending(), request);
    },
    async truncateLog() {
      if (!sqlite) return true;
      // Never on the kept connection: its busy timeout would hold the event loop while a reader is
      // in the way, and Sequelize retries SQLITE_BUSY ten times. Tried again between turns instead
      // (the housekeeping's own purges are still in an open commit group when it asks), 2 s at most.
      for (let attempt = 1; ; attempt++) {
        if (truncateLogNow(storageOf(sequelize))) return true;
        if (attempt === TRUNCATE_ATTEMPTS) return false;
        await sleep(TRUNCATE_RETRY_MS);
      }
    },
    async close() {
      await sequelize.close();
    },
  };
}

/**
 * SQLite: this process's write transactions queue here, in JavaScript, for the one write lock.
 * Without the queue each waits in `BEGIN IMMEDIATE` under busy_timeout, and that wait blocks a libuv
 * thread: with four waiting, the transaction holding the lock cannot run its next statement (or its
 * argon2 hash) and everything stalls until the busy timeouts expire — a dozen concurrent password
 * resets took two minutes and half of them ended in a 500 (found by the crash-safety test). Other
 * processes (the CLI) still meet busy_timeout.
 *
 * A transaction opened inside another joins it as a SAVEPOINT on the same connection: a second
 * writer cannot exist beside the first on SQLite, so a separate transaction would only wait for the
 * outer one, which waits for it (until the write gate's timeout). The inner work commits with the
 * outer transaction, and an inner failure rolls back to the savepoint only.
 */
function oneWriterAtATime(sequelize: Sequelize): Store['transaction'] {
  const inside = new AsyncLocalStorage<Transaction>();
  let tail: Promise<unknown> = Promise.resolve();
  return <T>(fn: (t: Transaction) => Promise<T>): Promise<T> => {
    const outer = inside.getStore();
    if (outer) return sequelize.transaction({ transaction: outer }, (t) => inside.run(t, () => fn(t)));
    const run = () => sequelize.transaction((t) => inside.run(t, () => fn(t)));
    const result = tail.then(run, run);
    tail = result.catch(() => undefined);
    return result;
  };
}
