import { randomUUID } from 'node:crypto';
import { isIP } from 'node:net';
import { col, fn, where } from 'sequelize';
import type { AuditSink } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { PasswordHasher } from '../sspr/password-hash.ts';
import { ipKey } from '../sspr/ip-key.ts';
import { createThrottle, normaliseIdentifier } from '../sspr/throttle.ts';
import type { AccountRow, Store, Transaction } from '../store/index.ts';
import { revokeAccountState } from '../store/revoke.ts';
import { defineSsprModels } from '../store/sspr-models.ts';
import { AdminError } from './errors.ts';
import { loadUserViews, type GroupView, type UserView } from './views.ts';
import { normaliseEmail, normaliseGroupName, normaliseLogin, normaliseName, normalisePhone, requirePassword } from './normalise.ts';

export { AdminError, type AdminErrorCode } from './errors.ts';
export { normaliseLogin, normalisePhone } from './normalise.ts';
export type { GroupView, MethodView, UserView } from './views.ts';
import { createThrottleStore } from '../store/throttle-store.ts';
import { definePasskeyModels } from '../store/passkey-repository.ts';

/**
 * The administrator's operations on accounts and groups (what the admin CLI calls). Domain rules
 * (policy check, notices, audit) live here, outside src/store, which only keeps the data. Each change is
 * one transaction that also writes one audit event `admin.<verb>` (`admin.password_reset` for a
 * password set by an admin); a failed operation writes nothing.
 *
 * Login names: trimmed, NFC-normalised and **stored lowercased**, so the unique index on
 * `accounts.login` enforces case-insensitive uniqueness on every database (no race between
 * `Bob` and `bob`), lookups are plain indexed equality, and the throttle keys (`id:<login>`) match.
 * Every lookup lowercases its input the same way.
 *
 * Group names: kept as typed (they are matched against `sspr.groups` in the config), unique and looked
 * up case-insensitively with SQL `lower()` on both sides (ASCII-only folding on SQLite).
 *
 * Email and phone are profile claims only, never registered recovery methods. A phone number is
 * stored as E.164; one typed without `+country` is read in `defaultRegion`
 * (config `delivery.sms.default_region`).
 */

/** What a password-policy check may look at besides the password itself. */
export interface PasswordCheckContext {
  login: string;
  email: string | null;
  name: string | null;
  isAdmin: boolean;
}

/**
 * Hook for the password policy (added by the lead): returns the names of the failed rules, empty when
 * the password is acceptable. Without it any non-empty password is accepted.
 */
export type PasswordCheck = (password: string, ctx: PasswordCheckContext) => Promise<string[]>;

/** Something the account holder (and, for admins, other admins) should be told about. */
export interface AdminNotice {
  kind: 'password_reset' | 'methods_reset';
  account: AccountRow;
}

export interface AccountServiceDeps {
  store: Store;
  hasher: Pick<PasswordHasher, 'hash'>;
  clock: Clock;
  audit: AuditSink;
  /** Region for phone numbers typed without `+country` (config `delivery.sms.default_region`). */
  defaultRegion?: string;
  /** Password-policy hook, applied by `addUser` and `setPassword`. */
  checkPassword?: PasswordCheck;
  /**
   * Queues the notice in the same transaction (the delivery queue lives in src/delivery). Called for
   * an admin password reset and for a methods reset; left out, nobody is notified.
   */
  notify?: (notice: AdminNotice, t: Transaction) => Promise<void>;
}

export interface NewUser {
  login: string;
  email?: string | null;
  phone?: string | null;
  name?: string | null;
  admin?: boolean;
  password: string;
}

/** Outcome of an operation that may find nothing to do (still audited, with `changed: false`). */
export interface ChangeResult {
  login: string;
  changed: boolean;
}

export type AccountService = ReturnType<typeof createAccountService>;

export function createAccountService(deps: AccountServiceDeps) {
  const { store, hasher, clock, audit } = deps;
  const { Account, Group, Membership, RecoveryMethod } = store.models;
  const { SsprProfile } = defineSsprModels(store.sequelize);
  const views = (accounts: AccountRow[], t?: Transaction) => loadUserViews(store, accounts, t);
  const throttle = createThrottle({ store: createThrottleStore(store), clock });
  const liftTouching = async (subjects: string[], t: Transaction) => (await throttle.liftTouching(subjects, t)).length;
  const region = deps.defaultRegion ?? 'NL';

  async function findAccount(login: string, t?: Transaction) {
    const key = normaliseLogin(login);
    const account = await Account.findOne({ where: { login: key }, transaction: t });
    if (!account) throw new AdminError('user_not_found', `user "${key}" not found`);
    return account;
  }

  async function findGroup(name: string, t?: Transaction) {
    const wanted = normaliseGroupName(name);
    const group = await Group.findOne({ where: where(fn('lower', col('name')), fn('lower', wanted)), transaction: t });
    if (!group) throw new AdminError('group_not_found', `group "${wanted}" not found`);
    return group;
  }

  async function checkPassword(password: string, ctx: PasswordCheckContext): Promise<void> {
    requirePassword(password);
    if (!deps.checkPassword) return;
    const failed = await deps.checkPassword(password, ctx);
    if (failed.length > 0) {
      throw new AdminError('password_rejected', `password rejected: ${failed.join(', ')}`, { field: 'password', rules: failed });
    }
  }

  return {
    /** Creates an account with a password. Email and phone are profile claims only. */
    async addUser(input: NewUser, actor: string): Promise<UserView> {
      const login = normaliseLogin(input.login);
      const email = normaliseEmail(input.email);
      const phone = normalisePhone(input.phone, region);
      const name = normaliseName(input.name);
      const isAdmin = input.admin === true;
      await checkPassword(input.password, { login, email, name, isAdmin });
      // Hash before taking the write lock: argon2 is deliberately slow.
      const passwordHash = await hasher.hash(input.password);
      const now = clock.now();
      const account = await store.transaction(async (t) => {
        if (await Account.findOne({ where: { login }, transaction: t })) {
          throw new AdminError('user_exists', `user "${login}" already exists`);
        }
        // Login and email both identify a user on the forgot-password page: neither may be another's.
        const sameEmail = (value: string) => where(fn('lower', col('email')), fn('lower', value));
        const emailOwner = email ? await Account.findOne({ where: sameEmail(email), transaction: t }) : null;
        if (email && emailOwner) throw new AdminError('user_exists', `email "${email}" is already used by user "${emailOwner.login}"`);
        const loginAsEmail = await Account.findOne({ where: sameEmail(login), transaction: t });
        if (loginAsEmail) throw new AdminError('user_exists', `login "${login}" is already the email of user "${loginAsEmail.login}"`);
        const emailAsLogin = email ? await Account.findOne({ where: { login: email.toLowerCase() }, transaction: t }) : null;
        if (email && emailAsLogin) throw new AdminError('user_exists', `email "${email}" is already the login of user "${emailAsLogin.login}"`);
        const created = await Account.create({
          id: randomUUID(),
          login,
          email,
          emailVerified: false,
          phone,
          phoneVerified: false,
          name,
          passwordHash,
          isAdmin,
          disabled: false,
          passwordChangedAt: now,
          language: null,
        }, { transaction: t });
        await audit.record({ activity: 'admin.user_added', result: 'success', actor, target: login, targetAccountId: created.id, details: { admin: isAdmin } }, t);
        return created;
      });
      return (await views([account]))[0];
    },

    async getUser(login: string): Promise<UserView> {
      const account = await findAccount(login);
      return (await views([account]))[0];
    },

    /** Every account, ordered by login. */
    async listUsers(): Promise<UserView[]> {
      const accounts = await Account.findAll({ order: [['login', 'ASC']] });
      return views(accounts);
    },

    /** Disabling also ends every session, grant and token of the account (see revokeAccountState). */
    async setDisabled(login: string, disabled: boolean, actor: string): Promise<ChangeResult & { revoked: number }> {
      return store.transaction(async (t) => {
        const account = await findAccount(login, t);
        const changed = account.disabled !== disabled;
        if (changed) await account.update({ disabled }, { transaction: t });
        const revoked = disabled ? await revokeAccountState(store, account.id, t) : 0;
        await audit.record({
          activity: disabled ? 'admin.user_disabled' : 'admin.user_enabled',
          result: 'success', actor, target: account.login, targetAccountId: account.id,
          details: { changed, revoked },
        }, t);
        return { login: account.login, changed, revoked };
      });
    },

    /**
     * An admin password reset: policy-checked (hook), argon2id, sets passwordChangedAt and revokes
     * every session, grant and token. Audited as `admin.password_reset`.
     */
    async setPassword(login: string, password: string, actor: string): Promise<ChangeResult & { revoked: number }> {
      const before = await findAccount(login);
      await checkPassword(password, { login: before.login, email: before.email, name: before.name, isAdmin: before.isAdmin });
      const passwordHash = await hasher.hash(password);
      return store.transaction(async (t) => {
        const account = await findAccount(login, t);
        await account.update({ passwordHash, passwordChangedAt: clock.now() }, { transaction: t });
        const revoked = await revokeAccountState(store, account.id, t);
        await audit.record({ activity: 'admin.password_reset', result: 'success', actor, target: account.login, targetAccountId: account.id, details: { revoked } }, t);
        await deps.notify?.({ kind: 'password_reset', account: account.get({ plain: true }) }, t);
        return { login: account.login, changed: true, revoked };
      });
    },

    async setAdmin(login: string, admin: boolean, actor: string): Promise<ChangeResult> {
      return store.transaction(async (t) => {
        const account = await findAccount(login, t);
        const changed = account.isAdmin !== admin;
        if (changed) await account.update({ isAdmin: admin }, { transaction: t });
        await audit.record({
          activity: admin ? 'admin.admin_granted' : 'admin.admin_revoked',
          result: 'success', actor, target: account.login, targetAccountId: account.id, details: { changed },
        }, t);
        return { login: account.login, changed };
      });
    },

    /**
     * Helpdesk: forgets every registered method and the last confirmation; the user registers again.
     * A credential event like a reset: whoever holds a session now (perhaps the reason for the call)
     * must sign in again and then meets the registration prompt.
     */
    async resetMethods(login: string, actor: string): Promise<ChangeResult & { removed: number }> {
      return store.transaction(async (t) => {
        const account = await findAccount(login, t);
        // Notify first: the notice goes to the very channels that are about to be forgotten.
        await deps.notify?.({ kind: 'methods_reset', account: account.get({ plain: true }) }, t);
        // Passkeys too: a passkey left behind would be a way back in for whoever caused the call.
        const removed = await RecoveryMethod.destroy({ where: { accountId: account.id }, transaction: t })
          + await definePasskeyModels(store.sequelize).Passkey.destroy({ where: { accountId: account.id }, transaction: t });
        await SsprProfile.update({ confirmedAt: null }, { where: { accountId: account.id }, transaction: t });
        const revoked = await revokeAccountState(store, account.id, t);
        await audit.record({ activity: 'admin.methods_reset', result: 'success', actor, target: account.login, targetAccountId: account.id, details: { removed, revoked } }, t);
        return { login: account.login, changed: removed > 0, removed };
      });
    },

    /**
     * Lifts every throttle and block touching the account: its account key (`acct:<id>`, where
     * sign-in and reset guesses count once the identifier resolves), every spelling it can be typed
     * as (login, email: `id:<identifier>`), the registration counters (`id:<account id>`), each with
     * and without an address. An address's own counters stay (`unblock --ip`).
     */
    async unblock(login: string, actor: string): Promise<ChangeResult & { removed: number }> {
      return store.transaction(async (t) => {
        const account = await findAccount(login, t);
        const identifiers = [account.login, account.email, account.id].filter((v): v is string => !!v).map(normaliseIdentifier);
        const removed = await liftTouching([`acct:${account.id}`, ...new Set(identifiers.map((i) => `id:${i}`))], t);
        await audit.record({ activity: 'admin.user_unblocked', result: 'success', actor, target: account.login, targetAccountId: account.id, details: { removed } }, t);
        return { login: account.login, changed: removed > 0, removed };
      });
    },

    /**
     * Lifts every throttle and block counted for an address (an IPv6 address: its /64), with or
     * without an identifier (`ip:<address>`, `…|ip:<address>`). Audited as `admin.ip_unblocked`.
     */
    async unblockIp(address: string, actor: string): Promise<{ address: string; changed: boolean; removed: number }> {
      if (isIP(address.trim().split('%')[0]) === 0) throw new AdminError('invalid_input', `not an IP address: "${address}"`, { field: 'address' });
      const key = ipKey(address);
      return store.transaction(async (t) => {
        const removed = await liftTouching([`ip:${key}`], t);
        await audit.record({ activity: 'admin.ip_unblocked', result: 'success', actor, details: { address: key, removed } }, t);
        return { address: key, changed: removed > 0, removed };
      });
    },

    async addGroup(name: string, actor: string): Promise<GroupView> {
      const wanted = normaliseGroupName(name);
      return store.transaction(async (t) => {
        const existing = await Group.findOne({ where: where(fn('lower', col('name')), fn('lower', wanted)), transaction: t });
        if (existing) throw new AdminError('group_exists', `group "${existing.name}" already exists`);
        const group = await Group.create({ id: randomUUID(), name: wanted }, { transaction: t });
        await audit.record({ activity: 'admin.group_added', result: 'success', actor, target: wanted, details: { group: wanted } }, t);
        return { id: group.id, name: group.name, members: 0 };
      });
    },

    /** Every group with its member count, ordered by name. */
    async listGroups(): Promise<GroupView[]> {
      const [groups, counts] = await Promise.all([
        Group.findAll({ order: [['name', 'ASC']] }),
        Membership.findAll({
          attributes: ['groupId', [fn('COUNT', col('account_id')), 'members']],
          group: ['group_id'],
          raw: true,
        }) as unknown as Promise<Array<{ groupId: string; members: number | string }>>,
      ]);
      const countOf = new Map(counts.map((c) => [c.groupId, Number(c.members)]));
      return groups.map((g) => ({ id: g.id, name: g.name, members: countOf.get(g.id) ?? 0 }));
    },

    async addMember(group: string, login: string, actor: string): Promise<ChangeResult & { group: string }> {
      return store.transaction(async (t) => {
        const g = await findGroup(group, t);
        const account = await findAccount(login, t);
        const existing = await Membership.findOne({ where: { groupId: g.id, accountId: account.id }, transaction: t });
        if (!existing) await Membership.create({ groupId: g.id, accountId: account.id }, { transaction: t });
        await audit.record({
          activity: 'admin.group_member_added', result: 'success', actor, target: account.login, targetAccountId: account.id,
          details: { group: g.name, changed: !existing },
        }, t);
        return { login: account.login, group: g.name, changed: !existing };
      });
    },

    async removeMember(group: string, login: string, actor: string): Promise<ChangeResult & { group: string }> {
      return store.transaction(async (t) => {
        const g = await findGroup(group, t);
        const account = await findAccount(login, t);
        const removed = await Membership.destroy({ where: { groupId: g.id, accountId: account.id }, transaction: t });
        await audit.record({
          activity: 'admin.group_member_removed', result: 'success', actor, target: account.login, targetAccountId: account.id,
          details: { group: g.name, changed: removed > 0 },
        }, t);
        return { login: account.login, group: g.name, changed: removed > 0 };
      });
    },
  };
}
