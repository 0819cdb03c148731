import { randomUUID } from 'node:crypto';
import type { AccountDirectory, DirectoryAccount, PasswordHasher } from 'oidc-sspr';
import type { MemoryStorage } from './adapter.ts';

interface StoredAccount extends DirectoryAccount {
  passwordHash: string;
}

/**
 * The host's own account store: a plain in-memory map. oidc-sspr only sees it through the
 * AccountDirectory port (`directory()`); the host keeps its own users, hashes and sessions.
 */
export class InMemoryAccounts {
  readonly byId = new Map<string, StoredAccount>();
  private readonly hasher: PasswordHasher;
  /** The host's oidc-provider storage: sessions, grants and tokens. */
  private readonly storage: MemoryStorage;
  /** Stamps a session or grant payload with an account's epoch (`sspr.credentialsEpoch.stamp`, given once sspr exists). */
  private readonly stamp: (payload: object, account: DirectoryAccount) => void;

  constructor(hasher: PasswordHasher, storage: MemoryStorage, stamp: (payload: object, account: DirectoryAccount) => void) {
    this.hasher = hasher;
    this.storage = storage;
    this.stamp = stamp;
  }

  async add(user: { login: string; password: string; email?: string; phone?: string; isAdmin?: boolean; groups?: string[] }): Promise<DirectoryAccount> {
    const account: StoredAccount = {
      id: randomUUID(),
      login: user.login,
      email: user.email ?? null,
      phone: user.phone ?? null,
      name: user.login,
      isAdmin: user.isAdmin ?? false,
      disabled: false,
      groups: user.groups ?? [],
      language: null,
      passwordChangedAt: null,
      credentialsEpoch: 0,
      passwordHash: await this.hasher.hash(user.password),
    };
    this.byId.set(account.id, account);
    return withoutHash(account)!;
  }

  /** By login name or email address, case-insensitive. */
  find(identifier: string): StoredAccount | undefined {
    const wanted = identifier.trim().toLowerCase();
    return [...this.byId.values()].find((a) => a.login.toLowerCase() === wanted || a.email?.toLowerCase() === wanted);
  }

  async verifyPassword(id: string, password: string): Promise<boolean> {
    const account = this.byId.get(id);
    if (!account || account.disabled) return this.hasher.dummyVerify(password); // same work for unknown users
    return this.hasher.verify(account.passwordHash, password);
  }

  /** The port oidc-sspr needs: look-ups, password check and change, and "revoke everything". */
  directory(): AccountDirectory {
    return {
      findById: async (id) => withoutHash(this.byId.get(id)),
      findByIdentifier: async (identifier) => withoutHash(this.find(identifier)),
      listAdmins: async () => [...this.byId.values()].filter((a) => a.isAdmin && !a.disabled).map((a) => withoutHash(a)!),
      verifyPassword: (id, password) => this.verifyPassword(id, password),
      // The optional transaction argument is oidc-sspr's; an in-memory store has nothing to join.
      setPassword: async (id, password) => {
        const account = this.byId.get(id);
        if (!account) return;
        account.passwordHash = await this.hasher.hash(password);
        account.passwordChangedAt = new Date();
      },
      revokeEverything: async (id) => {
        const account = this.byId.get(id);
        if (account) account.credentialsEpoch += 1;
        await this.storage.revokeAccount(id);
      },
      // Optional: with these, /account/security lists the host's own sessions and can end the others.
      listSessions: (accountId, currentSessionId) => this.storage.listSessions(accountId, currentSessionId),
      endOtherSessions: async (accountId, keepSessionId) => {
        const account = this.byId.get(accountId);
        if (!account) return { sessions: 0 };
        account.credentialsEpoch += 1; // a credential event: everything not re-stamped is refused at its next use
        return this.storage.endOtherSessions(accountId, keepSessionId, (payload) => this.stamp(payload, account));
      },
    };
  }
}

function withoutHash(account: StoredAccount | undefined): DirectoryAccount | null {
  if (!account) return null;
  const { passwordHash: _hash, ...rest } = account;
  return rest;
}
