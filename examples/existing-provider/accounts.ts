import { randomUUID } from 'node:crypto';
import type { AccountDirectory, DirectoryAccount, PasswordHasher } from 'oidc-sspr';

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
  /** Ends the account's sessions, grants and tokens in the host's oidc-provider storage. */
  private readonly revoke: (accountId: string) => Promise<void>;

  constructor(hasher: PasswordHasher, revoke: (accountId: string) => Promise<void>) {
    this.hasher = hasher;
    this.revoke = revoke;
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
        await this.revoke(id);
      },
    };
  }
}

function withoutHash(account: StoredAccount | undefined): DirectoryAccount | null {
  if (!account) return null;
  const { passwordHash: _hash, ...rest } = account;
  return rest;
}
