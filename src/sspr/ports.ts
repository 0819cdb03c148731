import type { Transaction } from '../store/index.ts';

/**
 * The ports SSPR needs from its host. Our server implements them on Sequelize
 * (src/store/account-directory.ts); an embedding host implements AccountDirectory over its own users.
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

/** One of an account's signed-in sessions, as `/account/security` lists them. */
export interface DirectorySession {
  /** The session's id in the host's provider storage (oidc-provider's `session.jti`): only compared, never shown. */
  id: string;
  signedInAt: Date | null;
  expiresAt: Date | null;
  /** Client ids the session has signed in to. */
  clients: string[];
}

/** What {@link AccountDirectory.listSessions} answers. */
export interface DirectorySessions {
  /** Sessions that have not expired, most recent sign-in first. */
  sessions: DirectorySession[];
  /** Grants the asking session does not use: apps still holding access elsewhere, offline access included. */
  grantsElsewhere: number;
}

/** Opaque to SSPR: the host's transaction, passed back into the host's own port calls. */
export type TransactionHandle = Transaction | undefined;

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
  /** Checks a password; false for unknown or disabled accounts too. */
  verifyPassword(id: string, password: string): Promise<boolean>;
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
