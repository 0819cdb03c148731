import { DatabaseSync } from 'node:sqlite';
import { Worker } from 'node:worker_threads';

/**
 * SQLite's checkpoints on a thread of their own. SQLite runs a checkpoint inside the COMMIT that
 * fills the write-ahead log past `wal_autocheckpoint` pages: on the event loop's thread, which then
 * copies every page the log holds into the database file and waits for two `fsync`s. With the
 * 10 000-page log (db.ts) that is a 25–30 ms stall every ≈ 320 sign-ins under load; with SQLite's
 * 1 000 pages it was ≈ 5 ms every ≈ 32.
 *
 * Here a worker thread with its own connection runs PASSIVE checkpoints: it copies what no reader
 * still needs without taking the write lock, so requests go on writing meanwhile, and the log
 * restarts from its beginning once it has all been copied. It aims at ≈ 6 000 pages a checkpoint
 * (the longer the log, the more often a hot page is copied once for many writes; bench/RESULTS.md),
 * from the pace of the last one: every 2–3 s under the harness load, every 5 s when quiet. The
 * connections' own checkpoint at 10 000 pages stays as the backstop (a worker that died, a burst).
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { DatabaseSync } = require('node:sqlite');
const { targetPages, minMs, maxMs } = workerData;
const db = new DatabaseSync(workerData.filename);
// Never wait for a lock inside SQLite: a checkpoint that meets another one, or a writer, is tried again.
db.exec('PRAGMA busy_timeout = 0');
db.exec('PRAGMA synchronous = NORMAL');
const passive = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');
const truncate = db.prepare('PRAGMA wal_checkpoint(TRUNCATE)');
let wait = minMs;
let timer;
const tick = () => {
  let pages = 0;
  try { pages = Number(passive.get().log) || 0; } catch { /* busy or closing: next time */ }
  // The log grew by about that many pages since the last checkpoint: come back when it holds the target.
  wait = pages > 0 ? Math.min(maxMs, Math.max(minMs, Math.round(wait * targetPages / pages))) : maxMs;
  timer = setTimeout(tick, wait);
};
timer = setTimeout(tick, wait);
const pause = new Int32Array(new SharedArrayBuffer(4));
parentPort.on('message', (message) => {
  if (message === 'truncate') {
    // The event loop's requests keep their turn: this thread waits, a few seconds at most.
    let emptied = false;
    for (let attempt = 0; attempt < 40 && !emptied; attempt++) {
      try { emptied = Number(truncate.get().busy) === 0; } catch { /* busy */ }
      if (!emptied) Atomics.wait(pause, 0, 0, 50);
    }
    parentPort.postMessage({ truncated: emptied });
    return;
  }
  clearTimeout(timer);
  try { db.close(); } catch {}
  parentPort.close();
});
`;

export interface BackgroundCheckpoints {
  /** Empties the log on the worker (`wal_checkpoint(TRUNCATE)`); false when readers or a writer kept it. */
  truncate(): Promise<boolean>;
  stop(): Promise<void>;
}

/** A database in a file (not `:memory:`): only such a one has a log to checkpoint. */
const onDisk = (filename: string): boolean => filename !== '' && filename !== ':memory:';

/** Pages a background checkpoint aims at, and the bounds of the wait between two. */
const PACE = { targetPages: 6000, minMs: 1000, maxMs: 5000 };

/** Starts checkpointing `filename` on a worker thread (none for `:memory:`). */
export function checkpointInBackground(filename: string, pace: Partial<typeof PACE> = {}): BackgroundCheckpoints {
  if (!onDisk(filename)) return { truncate: async () => true, stop: async () => undefined };
  let worker: Worker;
  try {
    worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { filename, ...PACE, ...pace } });
  } catch {
    // No thread to be had (resource limits): SQLite's own checkpoints on the event loop still run.
    return { truncate: async () => truncateLogNow(filename), stop: async () => undefined };
  }
  // While it runs, it does not keep the process alive; an error only ends the background work.
  worker.unref();
  worker.on('error', () => undefined);
  // Each call gets a truncation that starts after it (never one already under way, which would not
  // see what the caller just deleted); the worker answers them in the order asked.
  const waiting: ((truncated: boolean) => void)[] = [];
  worker.on('message', (message: { truncated?: boolean }) => waiting.shift()?.(message.truncated === true));
  let exited = false;
  worker.once('exit', () => {
    exited = true;
    for (const answer of waiting.splice(0)) answer(false);
  });
  let stopped: Promise<void> | undefined;
  return {
    truncate() {
      if (stopped) return Promise.resolve(false);
      // A worker that died (it could not open the file, say): the connection that never waits.
      if (exited) return Promise.resolve(truncateLogNow(filename));
      return new Promise<boolean>((resolve) => {
        waiting.push(resolve);
        worker.postMessage('truncate');
      });
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        if (exited) return resolve();
        // Held until it has closed its connection: a process whose last step is closing the store
        // must not end (nor leave this promise unsettled) before the worker is gone.
        worker.ref();
        const hung = setTimeout(() => void worker.terminate(), 2000);
        worker.once('exit', () => {
          clearTimeout(hung);
          resolve();
        });
        worker.postMessage('stop');
      });
      return stopped;
    },
  };
}

/**
 * Without a worker (the CLI, a host without the group commit): `wal_checkpoint(TRUNCATE)` on a
 * connection of its own that never waits for a lock, so the event loop is held only for the copying
 * itself, never for a busy wait; false when a reader or a writer was in the way (tried again later).
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
