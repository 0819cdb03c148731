import type { MethodType } from '../config/schema.ts';

/**
 * The ports SSPR needs from its host. Our server implements them on Sequelize (src/store:
 * account-directory.ts, flow-repository.ts, code-store.ts, throttle-store.ts, method-repository.ts);
 * an embedding host implements AccountDirectory over its own users; tests run the flows on
 * in-memory ports (test/support/memory-ports.ts). Nothing under src/sspr knows which.
 */

/** An account as SSPR sees it. Contacts are profile claims, never registered recovery methods. */
export interface DirectoryAccount {
  id: string;
  login: string;
  email: string | null;
  phone: string | null;
  name: string | null;
  isAdmin: boolean;
  disabled: boolean;
  /** Group names. */
  groups: string[];
  /** Last page language the user saw, for messages sent later. */
  language: string | null;
  passwordChangedAt: Date | null;
  /**
   * The account's credentials epoch: a counter the host moves at every credential event (password
   * set or reset, disable, methods reset, "sign out everywhere") — `revokeEverything` moves it. A
   * session, login result or grant made under an older epoch is refused wherever it is used.
   */
  credentialsEpoch: number;
}

/**
 * The host's transaction, opaque to SSPR: handed out by {@link UnitOfWork.transaction} and only ever
 * passed back into port calls (directory, repositories, audit, delivery), which commit or roll back
 * with it. `object` rather than a brand so a host's own transaction type (Sequelize's, ours) passes
 * as one without a cast at every call; the store implementations narrow it back.
 */
export type TransactionHandle = object;

/** Runs `fn` in one transaction: everything given `t` commits together, or nothing does. */
export interface UnitOfWork {
  transaction<T>(fn: (t: TransactionHandle) => Promise<T>): Promise<T>;
}

/** One of an account's signed-in sessions, as `/account/security` lists them. */
export interface DirectorySession {
  /** The session's id in the host's provider storage (oidc-provider's `session.jti`): only compared, never shown. */
  id: string;
  signedInAt: Date | null;
  expiresAt: Date | null;
  /** Client ids the session has signed in to. */
  clients: string[];
  /** The User-Agent it signed in with, when recorded (pages show browser and OS, parsed). */
  userAgent?: string | null;
  /** The network it signed in from, coarsened (`192.0.2.x`, `2001:db8:1::/48`), when recorded. */
  network?: string | null;
}

/** What {@link AccountDirectory.listSessions} answers. */
export interface DirectorySessions {
  /** Sessions that have not expired, most recent sign-in first. */
  sessions: DirectorySession[];
  /** Grants the asking session does not use: apps still holding access elsewhere, offline access included. */
  grantsElsewhere: number;
}


/**
 * The host's accounts, as oidc-sspr needs them: look-ups, password check and change, and "revoke
 * everything" after a reset. Our server implements it on Sequelize; examples/existing-provider over a Map.
 */
export interface AccountDirectory {
  /** The account with this id (the OIDC `sub`), or null. */
  findById(id: string): Promise<DirectoryAccount | null>;
  /** Login name or email address, case-insensitive. */
  findByIdentifier(identifier: string): Promise<DirectoryAccount | null>;
  /** Every administrator (for "an admin's password was reset" notices). */
  listAdmins(): Promise<DirectoryAccount[]>;
  /**
   * Checks a password; false for unknown or disabled accounts too. `readWith`: the account as
   * `findByIdentifier` returned it to this request a moment before; a directory that read the password
   * hash in the same read may check that one instead of reading the account again (the hash is then
   * exactly as new as the credentials epoch the sign-in result carries, never older).
   */
  verifyPassword(id: string, password: string, readWith?: DirectoryAccount): Promise<boolean>;
  /** Stores a new password (the directory hashes it) and sets passwordChangedAt. */
  setPassword(id: string, password: string, t?: TransactionHandle): Promise<void>;
  /**
   * Moves the credentials epoch (so every session, login result and grant made before is refused at
   * its next use, on any instance) and deletes the account's sessions, grants and tokens (clean-up).
   */
  revokeEverything(id: string, t?: TransactionHandle): Promise<void>;
  /** Marks the profile email/phone as verified when a method proved the same address/number. */
  markContactVerified?(id: string, kind: 'email' | 'phone', value: string, t?: TransactionHandle): Promise<void>;
  /** Remembers the user's page language for later messages. */
  rememberLanguage?(id: string, language: string): Promise<void>;
  /**
   * The account's sessions in the host's provider storage, for `/account/security`. Optional, with
   * {@link endOtherSessions}: a host that offers neither gets the page without its sessions section.
   */
  listSessions?(accountId: string, currentSessionId: string): Promise<DirectorySessions>;
  /**
   * "Sign out everywhere else", a credential event: moves the credentials epoch, stamps the kept
   * session and the grants it uses with the new one, and ends every other session and grant.
   */
  endOtherSessions?(accountId: string, keepSessionId: string, t?: TransactionHandle): Promise<{ sessions: number }>;
}

/** Which state machine a flow row belongs to. */
export type FlowKind = 'reset' | 'registration';

/** A stored flow: state and JSON data, keyed by an unguessable id (any instance can continue it). */
export interface FlowRow {
  id: string;
  kind: FlowKind | (string & {});
  state: string;
  accountId: string | null;
  /** The interaction (or, for /account/security, the provider session) the flow is bound to. */
  interactionUid: string | null;
  /** The flow's own JSON; compared as text by registration's compare-and-set. */
  data: string;
  expiresAt: Date;
  createdAt?: Date;
}

/** What a step may change on a stored flow. */
export type FlowChanges = Partial<Pick<FlowRow, 'state' | 'accountId' | 'data' | 'expiresAt'>>;

/** Flows of both kinds (`flows` table). Every write that moves a flow is a compare-and-set. */
export interface FlowRepository {
  find(kind: FlowKind, id: string, t?: TransactionHandle): Promise<FlowRow | null>;
  /** The newest flow of the account bound to `interactionUid` that is neither done nor expired at `now`. */
  findOpen(kind: FlowKind, where: { accountId: string; interactionUid: string; now: Date }, t?: TransactionHandle): Promise<FlowRow | null>;
  /** Stores a new flow; false when its id is taken (two posts of one page racing to create it). */
  insert(row: FlowRow, t: TransactionHandle): Promise<boolean>;
  /**
   * Compare-and-set: applies `changes` only while the flow still has `expected.state` (and
   * `expected.data`, when given); false when another request moved it first.
   */
  update(kind: FlowKind, id: string, expected: { state: string; data?: string }, changes: FlowChanges, t: TransactionHandle): Promise<boolean>;
  /** Deletes the flows of `kind` that expired at or before `until`; returns how many. */
  purgeExpired(kind: FlowKind, until: Date, t?: TransactionHandle): Promise<number>;
}

/** One issued one-time code: only its keyed hash is stored. */
export interface CodeRow {
  id: string;
  purpose: string;
  flowId: string;
  accountId: string | null;
  channel: string;
  target: string | null;
  codeHash: string;
  attempts: number;
  expiresAt: Date;
  usedAt: Date | null;
  createdAt: Date;
}

/** One-time codes (`one_time_codes`). Counting and consuming are conditional updates, never read-then-write. */
export interface CodeStore {
  /** Voids the unused codes of the code's flow and channel (used at `code.createdAt`) and stores it: in `t`, or in a transaction of its own. */
  replace(code: CodeRow, t?: TransactionHandle): Promise<void>;
  /** The newest unused code of a flow and channel. */
  latestUnused(flowId: string, channel: string, t?: TransactionHandle): Promise<CodeRow | null>;
  /** How many codes were ever issued for a flow and channel, used or not. */
  countIssued(flowId: string, channel: string, t?: TransactionHandle): Promise<number>;
  /** One more attempt, only while unused and below `maxAttempts`, in one statement; false when refused. */
  countAttempt(id: string, maxAttempts: number, t?: TransactionHandle): Promise<boolean>;
  /** The code as stored now (after concurrent attempts). */
  find(id: string, t?: TransactionHandle): Promise<CodeRow | null>;
  /** Marks it used, only while unused; false when another request consumed it first. */
  consume(id: string, at: Date, t?: TransactionHandle): Promise<boolean>;
  /** Whether an older code of this flow and channel, voided by a newer one, has this hash (optional: "replaced by a newer code"). */
  isReplaced?(flowId: string, channel: string, codeHash: string, t?: TransactionHandle): Promise<boolean>;
  /** Deletes codes that expired at or before `now`; returns how many. */
  purgeExpired(now: Date, t?: TransactionHandle): Promise<number>;
}

/** A throttle counter as stored (`throttles`). */
export interface ThrottleCounter {
  key: string;
  count: number;
  windowEndsAt: Date;
  blockedUntil: Date | null;
  strikes: number;
}

/** One key of a hit, with the values its rule gives the row if this hit opens a window or a block. */
export interface ThrottleHit {
  key: string;
  /** End of a window opened by this hit. */
  windowEndsAt: Date;
  /** End of a block started by this hit. */
  blockEndsAt: Date;
  /** How long the row lives on after a block started by this hit (the block's end, or the strike memory). */
  memoryEndsAt: Date;
  /** The rule's max: the count a finished block of an escalating rule goes back to. */
  max: number;
  /** The count whose hit starts a block (max + 1); -1 for a rule without blocks. */
  blocksAt: number;
}

/**
 * Throttle counters. `hit` is the one atomic step everything rests on: for every key at once, in one
 * statement, a window that is over starts again at 1; a blocked key counts on without moving its
 * block; the first hit after a block (a live row of an escalating rule) goes back to `max`; the hit
 * reaching `blocksAt` starts a block (`blockEndsAt`, `memoryEndsAt`, one more strike); any other hit
 * adds one. Concurrent hits on several instances must count exactly.
 */
export interface ThrottleStore {
  /** Counts one hit on each key (keys differ) at `now`; returns the rows as they are after it. */
  hit(hits: readonly ThrottleHit[], now: Date, t?: TransactionHandle): Promise<ThrottleCounter[]>;
  /** Moves the end of the block `strikes` of `key` started (a later block of an escalating rule is longer). */
  lengthenBlock(key: string, strikes: number, until: Date, memoryEndsAt: Date, t?: TransactionHandle): Promise<void>;
  /** The rows of these keys (absent keys have none). */
  read(keys: readonly string[], t?: TransactionHandle): Promise<ThrottleCounter[]>;
  /** One point back on each key whose window is live at `now` and that is not blocked. */
  refund(keys: readonly string[], now: Date, t?: TransactionHandle): Promise<void>;
  /** Deletes these keys. */
  remove(keys: readonly string[], t?: TransactionHandle): Promise<void>;
  /** Deletes every key starting with `prefix`; returns how many. */
  removePrefix(prefix: string, t?: TransactionHandle): Promise<number>;
  /** Every key containing `fragment` (a narrowing: the caller decides which touch a subject). */
  keysContaining(fragment: string, t?: TransactionHandle): Promise<string[]>;
  /** Deletes counters whose window and block are both over at `now`; returns how many. */
  purgeExpired(now: Date, t?: TransactionHandle): Promise<number>;
}

/** A registered recovery method (its own record: never the profile's email/phone). */
export interface StoredMethod {
  id: string;
  accountId: string;
  type: MethodType;
  /** Email address or E.164 number; null for methods proven with a held secret. */
  target: string | null;
  /** The held secret, sealed (authenticator app) or as keyed hashes (recovery codes); never shown after enrolment. */
  secretEnc: string | null;
  /** Last accepted TOTP time step: a code of that step or older is a replay. */
  lastTimeStep: number | null;
  verifiedAt: Date | null;
}

/** Storage of registered methods and of the per-account SSPR facts (reconfirm date, last reset). */
export interface MethodRepository {
  listVerified(accountId: string, t?: TransactionHandle): Promise<StoredMethod[]>;
  /** Stores a proven method; an existing method of the same type is replaced (one per type). */
  saveVerified(input: { accountId: string; type: MethodType; target?: string | null; secretEnc?: string | null; lastTimeStep?: number | null }, t?: TransactionHandle): Promise<StoredMethod>;
  remove(accountId: string, methodId: string, t?: TransactionHandle): Promise<StoredMethod | null>;
  /** Compare-and-set: records `step` only when it is newer than the stored one; false = replay. */
  advanceTimeStep(methodId: string, step: number, t?: TransactionHandle): Promise<boolean>;
  /** Compare-and-set on the held secret: replaces `expected` by `next`; false when another request changed it first. */
  replaceSecret(methodId: string, expected: string, next: string, t?: TransactionHandle): Promise<boolean>;
  confirmedAt(accountId: string, t?: TransactionHandle): Promise<Date | null>;
  setConfirmedAt(accountId: string, when: Date | null, t?: TransactionHandle): Promise<void>;
  /** When the account's password was last reset (reports show it). */
  setLastResetAt(accountId: string, when: Date, t?: TransactionHandle): Promise<void>;
}

/** One registered passkey (a WebAuthn credential); an account may hold several. */
export interface PasskeyCredential {
  id: string;
  accountId: string;
  /** The credential id as the browser names it (base64url). */
  credentialId: string;
  /** The COSE public key (base64url). */
  publicKey: string;
  /** Last sign count the authenticator reported: a lower or equal one later means a clone (0 = it keeps none). */
  signCount: number;
  transports: string[];
  aaguid: string | null;
  /** The user's own name for it ("Laptop"). */
  name: string;
  createdAt: Date;
  lastUsedAt: Date | null;
}

/** Passkeys (`passkey_credentials`). The sign count moves by compare-and-set only. */
export interface PasskeyRepository {
  listByAccount(accountId: string, t?: TransactionHandle): Promise<PasskeyCredential[]>;
  /** Stores a new credential; false when its credential id is already registered (to anyone). */
  insert(credential: PasskeyCredential, t?: TransactionHandle): Promise<boolean>;
  rename(accountId: string, id: string, name: string, t?: TransactionHandle): Promise<boolean>;
  remove(accountId: string, id: string, t?: TransactionHandle): Promise<PasskeyCredential | null>;
  /**
   * Records a use: the new sign count only while the stored one is still `expected` (two requests
   * replaying one assertion cannot both win); false when another request moved it first.
   */
  recordUse(id: string, expected: number, next: number, at: Date, t?: TransactionHandle): Promise<boolean>;
}

/** A WebAuthn challenge handed to a browser. */
export interface ChallengeRow {
  challenge: string;
  /** What the ceremony is for: `register`, `reset`, `sign_in`. */
  purpose: string;
  /** What it is bound to: a registration flow, a reset flow, an interaction. */
  binding: string;
  accountId: string | null;
  expiresAt: Date;
  usedAt: Date | null;
}

/** Challenges (`webauthn_challenges`): single use by a conditional update. */
export interface ChallengeStore {
  insert(row: ChallengeRow, t?: TransactionHandle): Promise<void>;
  /** Marks the challenge used only while unused, unexpired at `now` and of this purpose and binding; the row when this call used it. */
  consume(challenge: string, purpose: string, binding: string, now: Date, t?: TransactionHandle): Promise<ChallengeRow | null>;
  purgeExpired(now: Date, t?: TransactionHandle): Promise<number>;
}
