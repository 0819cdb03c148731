import type { AdapterPayload } from 'oidc-provider';

/**
 * A sign-in in progress, on SQLite, kept in this process's memory rather than the database: its
 * interaction while it is on the login page, and the authorization code it ends with (the app
 * exchanges it within seconds; it lives 60). SQLite serves one process (several instances need
 * PostgreSQL, where all of it stays in the database), so no other server can be asked for either.
 * What the sign-in produces — session, grant, tokens — and everything else is in the database.
 *
 * Why: on the login page the interaction was a write and a commit at `/auth`, a read for the page, a
 * read and a write for the password POST, a read and a delete at the resume; the code a write at the
 * resume and an update at the token endpoint. Eight statements, a commit and ≈ 10 log pages a sign-in
 * that oidc-provider's own memory adapter does not pay (bench/RESULTS.md, issue 19).
 *
 * What that gives up, on purpose: a restart forgets the sign-ins in flight. A login page's next step
 * shows the "sign-in expired" page and the app's sign-in starts again, as when an interaction's hour
 * runs out; an app that had not yet exchanged its code gets `invalid_grant`, and its next sign-in
 * goes through at once on the session, which is in the database. Nothing a user did is lost:
 * - an interaction past the login prompt (registration of recovery methods, the second factor,
 *   consent) is written to the database (the crash-safety tests of issue 8 kill the server in the
 *   middle of a registration);
 * - what is kept here is still checked where it is used: the resume compares the login result's
 *   credentials epoch with the account's, and the code exchange reads the grant and the account
 *   (epoch, disabled) from the database; a used code stays marked used, and its replay revokes what
 *   was issued, as oidc-provider does with any adapter.
 *
 * Bounded: past `capacity` entries the oldest is written to the database and forgotten here (spilled),
 * so a flood of sign-in starts costs database writes as before and never drops a bystander's sign-in;
 * expired ones are dropped as new ones come in.
 */
interface Entry {
  json: string;
  expiresAt: number;
  /** The database may also hold a row of it (spilled, written there before, or read from there). */
  inDatabase: boolean;
  grantId: string | null;
  /** When a code was used (ms), else null. */
  consumedAt: number | null;
}

/** Writes a spilled entry to the database: the adapter's upsert, `expiresIn` in seconds. */
export type Spill = (id: string, payload: AdapterPayload, expiresIn: number, consumedAt: number | null) => Promise<void>;

export class SignInMemory {
  private readonly entries = new Map<string, Entry>();
  /**
   * Ids that have a row in the database (written there, spilled, or read from there): one of them
   * saved here again must still have its row deleted when it is finished. Bounded; once it has
   * overflowed, every finished entry is deleted from the database too (`unsure`).
   */
  private readonly inDatabase = new Set<string>();
  private unsure = false;
  private readonly capacity: number;
  private readonly now: () => number;
  private readonly spill: Spill;

  constructor(capacity: number, now: () => number, spill: Spill) {
    if (!(capacity >= 1)) throw new Error('SignInMemory: capacity must be at least 1');
    this.capacity = capacity;
    this.now = now;
    this.spill = spill;
  }

  /** An interaction on the login prompt is kept here; one on any other prompt in the database. */
  static holdsInteraction(payload: AdapterPayload): boolean {
    const prompt = payload.prompt as { name?: unknown } | undefined;
    return prompt?.name === 'login';
  }

  get size(): number {
    return this.entries.size;
  }

  /** The payload as last saved, with its use (codes), or undefined (never here, finished, spilled, expired). */
  get(id: string): Readonly<Pick<Entry, 'json' | 'consumedAt' | 'grantId'>> | undefined {
    return this.live(id);
  }

  private live(id: string): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry && entry.expiresAt <= this.now()) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  /** Keeps `json` as `id`'s payload (unused), the newest last; spills the oldest when over capacity. */
  async set(id: string, json: string, expiresInSeconds: number, grantId: string | null = null): Promise<void> {
    const now = this.now();
    const inDatabase = this.unsure || this.inDatabase.has(id) || this.entries.get(id)?.inDatabase === true;
    this.entries.delete(id);
    this.entries.set(id, { json, expiresAt: now + expiresInSeconds * 1000, inDatabase, grantId, consumedAt: null });
    this.dropExpired(now);
    while (this.entries.size > this.capacity) {
      const [oldest, entry] = this.entries.entries().next().value!;
      // In the database first, then forgotten here: a look-up in between finds it in one of the two.
      const left = Math.max(1, Math.ceil((entry.expiresAt - this.now()) / 1000));
      await this.spill(oldest, JSON.parse(entry.json) as AdapterPayload, left, entry.consumedAt);
      this.noteInDatabase(oldest);
      // Saved again meanwhile: that newer save stays here, and its row is now in the database too.
      const current = this.entries.get(oldest);
      if (current === entry) this.entries.delete(oldest);
      else if (current) current.inDatabase = true;
    }
  }

  /** Marks a code used; false when it is not kept here (then it is in the database, or gone). */
  consume(id: string): boolean {
    const entry = this.live(id);
    if (!entry) return false;
    entry.consumedAt = this.now();
    return true;
  }

  /** Forgets `id`. */
  delete(id: string): void {
    this.entries.delete(id);
  }

  /**
   * Forgets a finished entry; false when it lived here alone (its database row cannot exist, nothing
   * to delete there), true when the database may hold a row of it too.
   */
  finish(id: string): boolean {
    const entry = this.entries.get(id);
    this.entries.delete(id);
    this.inDatabase.delete(id);
    return !entry || entry.inDatabase || this.unsure;
  }

  /** Forgets every entry of a grant (a revoked grant's codes). */
  revokeByGrantId(grantId: string): void {
    for (const [id, entry] of this.entries) if (entry.grantId === grantId) this.entries.delete(id);
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

  /** The oldest entries first: entries of one kind share one lifetime, so they expire in that order. */
  private dropExpired(now: number): void {
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt > now) return;
      this.entries.delete(id);
    }
  }
}
