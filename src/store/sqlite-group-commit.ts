import { AsyncLocalStorage } from 'node:async_hooks';
import type { DatabaseSync, StatementSync } from 'node:sqlite';

/**
 * Group commit on SQLite's kept connection (the one fast-sql and Sequelize use outside a
 * transaction): the INSERT/UPDATE/DELETE statements issued there share one `BEGIN IMMEDIATE … COMMIT`
 * instead of one autocommit transaction each.
 *
 * Why: a sign-in runs 11 writes. In autocommit each is a transaction of its own that writes every page
 * it dirtied to the WAL (two `pwrite`s a page: ≈ 37 frames a sign-in, most of them the same hot
 * leaves again) and takes and drops SQLite's file locks (`fcntl`); perf put that at ≈ 0.75 ms of the
 * main thread per sign-in, the largest single cost over a bare oidc-provider (bench/RESULTS.md).
 *
 * When a group commits, whichever comes first:
 * - at the end of the HTTP request (`commitBeforeReturning`, our server's outermost middleware), before
 *   the response goes out — a response never reports a write that is not committed;
 * - before a statement that is not a plain write or read on this connection (DDL, PRAGMA, BEGIN), and
 *   before another connection of this process writes (the write gate asks: sqlite-driver.ts);
 * - at the latest on the event loop's next check phase (`setImmediate`), so the group never spans an
 *   I/O wait: other processes (the CLI) wait for SQLite's lock one turn of the loop at most — except a
 *   group opened by a write its request asked to commit with it ({@link commitWithThisRequest}: a
 *   guess counted before a password check), held until that request ends, 250 ms at most.
 * Statements on this connection always see the group's writes (the same connection), so requests of
 * this process see each other's writes as soon as they are made, exactly as with autocommit.
 *
 * Reads outside a group share one read transaction per turn of the event loop, too: alone, each read
 * opened and closed its own (a lock and an unlock on the `-shm` file, 4–6 µs of a 10 µs read by key).
 * The turn's first read still runs alone (a turn that reads once gains nothing from a BEGIN and a
 * COMMIT around it); the second opens the shared one.
 * It ends at the same moments as a group, before the first write (which opens a group of its own
 * instead of upgrading the read: a write never acts on a snapshot older than its BEGIN IMMEDIATE), and
 * as soon as a transaction of another connection of this process ends (a reset's unit of work: the
 * next read sees it). So only what another process commits is seen up to one turn later — as if the
 * read had come that much earlier.
 *
 * An error that rolls the transaction back (disk full, I/O) fails the whole group: every request that
 * wrote in it fails at its end instead of answering as if its writes had been kept.
 */
export interface CommitGroup {
  failed: boolean;
}

const DML = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;

/** What a statement is to the group: a read runs inside it, a write joins it, anything else ends it first. */
export type StatementKind = 'read' | 'write' | 'other';

export function statementKind(sql: string, readOnly: boolean): StatementKind {
  return readOnly ? 'read' : DML.test(sql) ? 'write' : 'other';
}

/**
 * The groups the current request wrote in, and what to undo outside the database should one of them
 * be rolled back (set by {@link commitBeforeReturning}).
 */
const requestGroups = new AsyncLocalStorage<{ groups: CommitGroup[]; undo: (() => void)[]; commitWithRequest: boolean }>();

/**
 * How long a group opened by a write of {@link commitWithThisRequest} may stay open at most, when its
 * request has not ended by then (a password hash takes 30–100 ms under load).
 */
export const COMMIT_WITH_REQUEST_MS = 250;

/**
 * The current request's next write, if it opens a group, commits with the request instead of on the
 * next turn: at its end (before the response, as every group), or after {@link COMMIT_WITH_REQUEST_MS}
 * at the latest. For a write the request follows with a long wait and more writes: a guess counted
 * before a password hash is checked, then cleared or recorded (one commit instead of two).
 *
 * What holds meanwhile: this process's requests all use this connection, so they see the write at once
 * (a concurrent guess counts after it); the group holds SQLite's write lock, so no other process can
 * write — and so count — until it commits; and the response that tells the outcome leaves only after
 * the commit. Nothing outside a request (its writes commit on the next turn).
 */
export function commitWithThisRequest(): void {
  const store = requestGroups.getStore();
  if (store) store.commitWithRequest = true;
}

/**
 * Registers what undoes a change the current request made outside the database (state kept in
 * memory) should its writes be rolled back with their group: the request fails, and what it kept
 * must not outlive the writes that went with it. Nothing outside a request (its writes commit alone).
 */
export function undoIfRolledBack(undo: () => void): void {
  requestGroups.getStore()?.undo.push(undo);
}

export class GroupCommit {
  private open: CommitGroup | null = null;
  /** A read-only transaction shared by this turn's reads (never holds a write). */
  private reading = false;
  /** {@link endedElsewhere} when the shared read transaction began. */
  private readingSince = 0;
  private scheduled = false;
  /**
   * The timer of {@link commitWithin}, cleared when its group ends. Left to fire long after its
   * group committed (as almost every one does, at its request's end), it ran once a sign-in for
   * nothing, waking an idle event loop to do so.
   */
  private deadline: NodeJS.Timeout | null = null;
  /**
   * A read ran since the last commit (a request's end, or the end of a turn that opened a group or
   * the shared read): the next read opens the shared read transaction.
   */
  private readInThisTurn = false;

  private readonly handle: DatabaseSync;
  private readonly released: () => void;
  private readonly endedElsewhere: () => number;
  // Prepared once: `exec` parsed "BEGIN IMMEDIATE" and "COMMIT" again for every group (≈ 6 % of a
  // commit's CPU in perf). node:sqlite finalizes them when the connection closes.
  private beginStatement: StatementSync | null = null;
  private beginReadStatement: StatementSync | null = null;
  private commitStatement: StatementSync | null = null;

  /**
   * `released` is called after every COMMIT or ROLLBACK (the write gate hands the lock on);
   * `endedElsewhere` counts the transactions of this process's connections that ended: one that
   * ends while the shared read transaction is open makes it stale (a reset committed on its own
   * connection must be seen by the next read, in the same turn too).
   */
  constructor(handle: DatabaseSync, released: () => void, endedElsewhere: () => number) {
    this.handle = handle;
    this.released = released;
    this.endedElsewhere = endedElsewhere;
  }

  /** A group or the shared read transaction is open (another connection's write ends it first). */
  get isOpen(): boolean {
    return this.open !== null || this.reading;
  }

  /**
   * Before a statement on the connection: a read joins (or opens) this turn's read transaction, a
   * write joins (or opens) the group; anything else commits first.
   */
  before(kind: StatementKind): void {
    if (kind === 'read') {
      if (this.reading && this.readingSince !== this.endedElsewhere()) this.endReading();
      // Inside the group, or inside someone else's explicit transaction, a read needs nothing more.
      if (this.open || this.reading || this.handle.isTransaction) return;
      // A turn's first read runs alone: under load most turns serve one request that reads once (a
      // userinfo), where a BEGIN and a COMMIT around the read cost more than its own lock. The second
      // read of the turn opens the shared one.
      if (!this.readInThisTurn) {
        this.readInThisTurn = true;
        return;
      }
      (this.beginReadStatement ??= this.handle.prepare('BEGIN')).run();
      this.reading = true;
      this.readingSince = this.endedElsewhere();
      this.commitAtTheLatest();
      return;
    }
    if (kind === 'other') {
      this.commit();
      return;
    }
    const request = requestGroups.getStore();
    const withRequest = request?.commitWithRequest === true;
    if (request) request.commitWithRequest = false;
    if (!this.open) {
      if (this.reading) this.endReading();
      // An explicit transaction on this connection is someone else's unit of work: stay out of it.
      if (this.handle.isTransaction) return;
      (this.beginStatement ??= this.handle.prepare('BEGIN IMMEDIATE')).run();
      this.open = { failed: false };
      if (withRequest) this.commitWithin(this.open, COMMIT_WITH_REQUEST_MS);
      else this.commitAtTheLatest();
    } else if (!request) {
      // A write outside any request (a background job) never waits for a group held for one.
      this.commitAtTheLatest();
    }
    if (request && !request.groups.includes(this.open)) request.groups.push(this.open);
  }

  /** After a statement: if SQLite rolled the transaction back on an error, the group failed. */
  after(): void {
    if (this.reading && !this.handle.isTransaction) {
      this.reading = false; // nothing was written in it: nothing lost
      this.released();
    }
    if (this.open && !this.handle.isTransaction) {
      this.open.failed = true;
      this.open = null;
      this.clearDeadline();
      this.released();
    }
  }

  /** Commits `group` after `ms` if it is still open then. */
  private commitWithin(group: CommitGroup, ms: number): void {
    this.deadline = setTimeout(() => {
      this.deadline = null;
      if (this.open === group) this.atTheLatest();
    }, ms).unref();
  }

  private clearDeadline(): void {
    if (this.deadline === null) return;
    clearTimeout(this.deadline);
    this.deadline = null;
  }

  private commitAtTheLatest(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.atTheLatest);
  }

  /** Ends the shared read transaction (it holds no write: nothing can be lost). */
  private endReading(): void {
    this.reading = false;
    try {
      if (this.handle.isOpen && this.handle.isTransaction) (this.commitStatement ??= this.handle.prepare('COMMIT')).run();
    } catch {
      try {
        if (this.handle.isOpen && this.handle.isTransaction) this.handle.exec('ROLLBACK');
      } catch {
        // Closed or already ended: nothing more to do.
      }
    } finally {
      this.released();
    }
  }

  /** Commits the open group now (nothing when none is open); throws when the COMMIT fails. */
  commit(): void {
    this.readInThisTurn = false;
    if (this.reading) this.endReading();
    const group = this.open;
    if (!group) return;
    this.open = null;
    this.clearDeadline();
    try {
      if (this.handle.isOpen && this.handle.isTransaction) (this.commitStatement ??= this.handle.prepare('COMMIT')).run();
    } catch (err) {
      group.failed = true;
      try {
        if (this.handle.isOpen && this.handle.isTransaction) this.handle.exec('ROLLBACK');
      } catch {
        // Closed or already rolled back: nothing more to undo.
      }
      throw err;
    } finally {
      this.released();
    }
  }

  private readonly atTheLatest = (): void => {
    this.scheduled = false;
    try {
      this.commit();
    } catch {
      // Marked failed on the group: the requests that wrote in it fail at their end.
    }
  };
}

/** Why a request fails whose writes were lost with their group. */
export class GroupCommitFailed extends Error {
  readonly code = 'SQLITE_ABORT';
  constructor() {
    super('SQLITE_ABORT: a write of this request was rolled back with its commit group');
    this.name = 'Error';
  }
}

/**
 * Runs `fn` (one HTTP request), then commits what is pending before returning: what the request
 * answers is on disk. Fails when a group the request wrote in was rolled back.
 */
export function commitBeforeReturning<T>(commitNow: () => void, fn: () => Promise<T>): Promise<T> {
  const groups: CommitGroup[] = [];
  const undo: (() => void)[] = [];
  const finish = (outcome: { value: T } | { error: unknown }): T => {
    try {
      commitNow();
    } catch {
      // Marked failed on the group; checked below for this request's own groups.
    }
    const rolledBack = groups.some((g) => g.failed);
    if (rolledBack) for (const step of undo) step();
    if ('error' in outcome) throw outcome.error;
    if (rolledBack) throw new GroupCommitFailed();
    return outcome.value;
  };
  // Chained rather than awaited: an async function here would be one more frame in the stack every
  // error of the request captures.
  return requestGroups.run({ groups, undo, commitWithRequest: false }, () => {
    let running: Promise<T>;
    try {
      running = fn();
    } catch (error) {
      running = Promise.reject(error);
    }
    return running.then((value) => finish({ value }), (error: unknown) => finish({ error }));
  });
}
