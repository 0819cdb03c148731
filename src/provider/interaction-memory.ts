import type { AdapterPayload } from 'oidc-provider';

/**
 * Where a sign-in's interaction lives while it is on the login page, on SQLite: in this process's
 * memory, not in the database. SQLite serves one process (several instances need PostgreSQL, where
 * every interaction stays in the database), so no other server can be asked for it.
 *
 * Why: an interaction on the login page was one write and commit at `/auth`, a read for the page, a
 * read and a write for the password POST and a read and a delete at the resume — four statements and
 * a commit a sign-in that oidc-provider's own memory adapter does not pay, ≈ 0.4 ms of the event
 * loop's CPU a sign-in under load (bench/RESULTS.md, issue 19).
 *
 * What that gives up, on purpose: a restart forgets the login pages open at that moment. Their next
 * step shows the "sign-in expired" page and the app's sign-in starts again, as when an interaction's
 * hour runs out. Nothing that must outlive the process lives here:
 * - an interaction past the login prompt (registration of recovery methods, the second factor,
 *   consent) goes to the database: the user has done work there that a restart must not lose
 *   (the crash-safety tests of issue 8 kill the server in the middle of a registration);
 * - sessions, grants, codes, tokens, throttles, audit events and reset flows are all in the database,
 *   as before;
 * - what the login page decides is still checked where it is used: the resume compares the login
 *   result's credentials epoch with the account's current one, wherever the result was kept.
 *
 * Bounded: past `capacity` interactions the oldest is written to the database and forgotten here
 * (spilled), so a flood of sign-in starts costs database writes as before and never drops a
 * bystander's sign-in; expired ones are dropped as new ones come in.
 */
export class InteractionMemory {
  private readonly entries = new Map<string, { json: string; expiresAt: number; inDatabase: boolean }>();
  /**
   * Interactions that have a row in the database (written there, spilled, or read from there): one
   * of them saved here again must still have its row deleted when it is finished. Bounded; once it
   * has overflowed, every finished interaction is deleted from the database too (`unsure`).
   */
  private readonly inDatabase = new Set<string>();
  private unsure = false;
  private readonly capacity: number;
  private readonly now: () => number;
  /** Writes a spilled interaction to the database (the adapter's upsert, `expiresIn` in seconds). */
  private readonly spill: (id: string, json: string, expiresIn: number) => Promise<void>;

  constructor(capacity: number, now: () => number, spill: (id: string, json: string, expiresIn: number) => Promise<void>) {
    if (!(capacity >= 1)) throw new Error('InteractionMemory: capacity must be at least 1');
    this.capacity = capacity;
    this.now = now;
    this.spill = spill;
  }

  /** An interaction on the login prompt: kept here. Any other step is kept in the database. */
  static holds(payload: AdapterPayload): boolean {
    const prompt = payload.prompt as { name?: unknown } | undefined;
    return prompt?.name === 'login';
  }

  get size(): number {
    return this.entries.size;
  }

  /** The payload as last saved, or undefined (never kept here, destroyed, spilled or expired). */
  get(id: string): string | undefined {
    const entry = this.entries.get(id);
    if (!entry) return undefined;
    if (entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry.json;
  }

  /** Keeps `json` as `id`'s payload, the newest last; spills the oldest when over capacity. */
  async set(id: string, json: string, expiresInSeconds: number): Promise<void> {
    const now = this.now();
    const inDatabase = this.unsure || this.inDatabase.has(id) || this.entries.get(id)?.inDatabase === true;
    this.entries.delete(id);
    this.entries.set(id, { json, expiresAt: now + expiresInSeconds * 1000, inDatabase });
    this.dropExpired(now);
    while (this.entries.size > this.capacity) {
      const [oldest, entry] = this.entries.entries().next().value!;
      // In the database first, then forgotten here: a look-up in between finds it in one of the two.
      await this.spill(oldest, entry.json, Math.max(1, Math.ceil((entry.expiresAt - this.now()) / 1000)));
      this.noteInDatabase(oldest);
      if (this.entries.get(oldest) === entry) this.entries.delete(oldest);
    }
  }

  /** Forgets `id`. */
  delete(id: string): void {
    this.entries.delete(id);
  }

  /**
   * Forgets a finished interaction; false when it lived here alone (its database row cannot exist,
   * nothing to delete there), true when the database may hold a row of it too.
   */
  finish(id: string): boolean {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    this.inDatabase.delete(id);
    return !entry || entry.inDatabase || this.unsure;
  }

  /** `id` has a row in the database (written or read there). */
  noteInDatabase(id: string): void {
    if (this.unsure) return;
    this.inDatabase.add(id);
    if (this.inDatabase.size > 2 * this.capacity) {
      this.unsure = true;
      this.inDatabase.clear();
    }
  }

  /** The oldest entries first: every interaction gets the same lifetime, so they expire in that order. */
  private dropExpired(now: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(id);
    }
  }
}
