import type { DatabaseSync } from 'node:sqlite';
import { isReadOnly, SqliteError } from './sqlite-values.ts';

/**
 * This process's connections to one SQLite file share a write gate: node:sqlite runs statements on
 * the event loop's thread, so a statement waiting inside SQLite for another connection's write lock
 * would block the loop, and that connection could never reach its COMMIT. While one connection is
 * inside a transaction, a write (or BEGIN) on another waits here, asynchronously (sqlite-driver.ts).
 */

/** How long a statement waits for another connection's transaction before failing as SQLITE_BUSY. */
const GATE_TIMEOUT_MS = 5000;

/** What the gate needs of a connection (sqlite-driver.ts's Database). */
export interface GatedConnection {
  readonly handle: DatabaseSync;
  /** Its group commit or shared read transaction is open. */
  readonly hasOpenGroup: boolean;
  commitGroup(): void;
}

/** One per database file: which of this process's connections is inside a transaction, and who waits. */
export class WriteGate {
  holder: GatedConnection | null = null;
  /** Transactions of this process's connections that ended: a shared read snapshot older than one is stale. */
  ended = 0;
  private waiting: { go: () => void }[] = [];

  blocks(db: GatedConnection, sql: string): boolean {
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
  settle(db: GatedConnection): void {
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

export function gateFor(filename: string): WriteGate {
  let gate = gates.get(filename);
  if (!gate) {
    gate = new WriteGate();
    gates.set(filename, gate);
  }
  return gate;
}
