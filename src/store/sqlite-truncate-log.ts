import { DatabaseSync } from 'node:sqlite';

/**
 * Emptying SQLite's write-ahead log (`wal_checkpoint(TRUNCATE)`), for the hourly housekeeping: the
 * log keeps old images of the pages it wrote until they are written over, deleted rows included.
 *
 * The ordinary checkpoints are SQLite's own, inside the COMMIT that fills the log past
 * `SQLITE_WAL_CHECKPOINT_PAGES` (db.ts). A worker thread with its own connection used to run them
 * instead, to keep that copy off the event loop; it cost the server ≈ 20 MiB of resident memory (a
 * Node.js worker is a whole second environment) and, under the sign-in load, about 1 % more CPU a
 * sign-in (its checkpoints came every ≈ 6 000 pages instead of 10 000), while the load's p99 moved
 * only within the noise (`bench/ab.ts`, bench/RESULTS.md, the section of 8 Dec from 03:40 UTC). So
 * the event loop copies, about once every 500 sign-ins under load, as SQLite does by default: the
 * request whose COMMIT fills the log, and those waiting behind it, wait 25–65 ms once (the slowest
 * sign-in of an A/B run was up to 25 ms slower).
 */

/** A database in a file (not `:memory:`): only such a one has a log to empty. */
const onDisk = (filename: string): boolean => filename !== '' && filename !== ':memory:';

/**
 * `wal_checkpoint(TRUNCATE)` on a connection of its own that never waits for a lock, so the event
 * loop is held only for the copying itself, never for a busy wait; false when a reader or a writer
 * was in the way (tried again later).
 */
export function truncateLogNow(filename: string): boolean {
  if (!onDisk(filename)) return true;
  const db = new DatabaseSync(filename);
  try {
    db.exec('PRAGMA busy_timeout = 0');
    const row = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get() as { busy: number } | undefined;
    return Number(row?.busy) === 0;
  } catch {
    return false;
  } finally {
    db.close();
  }
}
