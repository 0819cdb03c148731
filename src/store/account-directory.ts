import type { Clock } from '../clock.ts';
import type { AccountDirectory, DirectoryAccount } from '../sspr/ports.ts';
import type { PasswordHasher } from '../sspr/password-hash.ts';
import type { AccountRow, Store, Transaction } from './index.ts';
import { fastSql } from './fast-sql.ts';
import { revokeAccountState } from './revoke.ts';
import { countGrantsElsewhere, endOtherSessions, listAccountSessions } from './sessions.ts';
import { ACCOUNT_COLUMNS, accountRowOf, type RawAccountRow } from './account-row.ts';
import { dateParamFor, readBool } from './sql.ts';

export interface SequelizeDirectory extends AccountDirectory {
  listSessions: NonNullable<AccountDirectory['listSessions']>;
  endOtherSessions: NonNullable<AccountDirectory['endOtherSessions']>;
  /** The stored row, for claims: without the group names (the token endpoints need none). */
  findRow(id: string): Promise<AccountRow | null>;
  /**
   * The stored row and the same account as SSPR sees it, from one statement: the provider's
   * `findAccount` hands the account to the register prompt, which then reads nothing again.
   */
  findRowAndAccount(id: string): Promise<{ row: AccountRow; account: DirectoryAccount } | null>;
}

/** The account row with its group names. */
interface RawAccount extends RawAccountRow {
  /** JSON array text on SQLite, parsed JSON on PostgreSQL. */
  group_names: string | string[] | null;
}

/** Our server's AccountDirectory: accounts, groups and provider state in the same database. */
export function createSequelizeDirectory(store: Store, hasher: PasswordHasher, clock: Clock): SequelizeDirectory {
  const { Account } = store.models;
  const { sequelize } = store;

  // The account and its group names in one statement (sign-in reads it up to three times: login,
  // findAccount, token): plain SQL, because Model calls with an include cost several times the CPU.
  const groupNames = store.dialect === 'sqlite'
    ? 'SELECT json_group_array(g.name) FROM memberships m JOIN "groups" g ON g.id = m.group_id WHERE m.account_id = a.id'
    : 'SELECT coalesce(json_agg(g.name), \'[]\'::json) FROM memberships m JOIN "groups" g ON g.id = m.group_id WHERE m.account_id = a.id';
  // The password hash read with an account found by identifier, for that request's password check.
  const readForSignIn = new WeakMap<DirectoryAccount, { passwordHash: string | null; disabled: boolean }>();
  const SELECT = `SELECT ${ACCOUNT_COLUMNS}, (${groupNames}) AS group_names FROM accounts a`;
  // Userinfo, refresh and the code exchange read the account for its claims and epoch only.
  const ROW_BY_ID = `SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.id = $1`;
  // `lower(...)` exactly as indexed by migration 0004: both sides are index look-ups, not a scan.
  const BY_IDENTIFIER = `${SELECT} WHERE lower(a.login) = $1 OR lower(a.email) = $1 LIMIT 2`;
  const BY_ID = `${SELECT} WHERE a.id = $1`;

  // Driver-level reads on Sequelize's own connections (see fast-sql.ts).
  const fast = fastSql(sequelize);
  const dateParam = dateParamFor(store.dialect);
  async function select(sql: string, bind: unknown[]): Promise<RawAccount[]> {
    return fast.all<RawAccount>(sql, bind);
  }

  function toAccount(row: AccountRow, groupsValue: RawAccount['group_names']): DirectoryAccount {
    const groups = typeof groupsValue === 'string' ? (JSON.parse(groupsValue) as string[]) : (groupsValue ?? []);
    return {
      id: row.id,
      login: row.login,
      email: row.email,
      phone: row.phone,
      name: row.name,
      isAdmin: row.isAdmin,
      disabled: row.disabled,
      groups,
      language: row.language,
      passwordChangedAt: row.passwordChangedAt,
      credentialsEpoch: row.credentialsEpoch,
    };
  }

  async function findRowAndAccount(id: string) {
    const [r] = await select(BY_ID, [id]);
    if (!r) return null;
    const row = accountRowOf(r);
    return { row, account: toAccount(row, r.group_names) };
  }

  return {
    findRowAndAccount,
    async findRow(id) {
      const [r] = await select(ROW_BY_ID, [id]);
      return r ? accountRowOf(r) : null;
    },
    async findById(id) {
      return (await findRowAndAccount(id))?.account ?? null;
    },
    async findByIdentifier(identifier) {
      const wanted = identifier.trim().toLowerCase();
      if (!wanted || wanted.length > 320) return null;
      const rows = await select(BY_IDENTIFIER, [wanted]);
      // A login name wins over someone else's email address; two accounts sharing an email match neither.
      const byLogin = rows.find((r) => r.login.toLowerCase() === wanted);
      const r = byLogin ?? (rows.length === 1 ? rows[0] : undefined);
      if (!r) return null;
      const row = accountRowOf(r);
      const account = toAccount(row, r.group_names);
      readForSignIn.set(account, { passwordHash: row.passwordHash, disabled: row.disabled });
      return account;
    },
    async listAdmins() {
      const rows = await select(`${SELECT} WHERE a.is_admin = $1 AND a.disabled = $2`, [true, false]);
      return rows.map((r) => toAccount(accountRowOf(r), r.group_names));
    },
    async verifyPassword(id, password, readWith) {
      // The hash read together with the account this request found by identifier (taken once, by
      // that very object), else the row as it is now. Either way an account disabled, or a password
      // reset, after that read is refused where the result is used: both move the credentials epoch,
      // and the result carries the epoch of the same read or an older one.
      const known = readWith?.id === id ? readForSignIn.get(readWith) : undefined;
      if (readWith) readForSignIn.delete(readWith);
      const r = known
        ? { password_hash: known.passwordHash, disabled: known.disabled }
        : (await fast.all<{ password_hash: string | null; disabled: boolean | number | string }>(
          'SELECT password_hash, disabled FROM accounts WHERE id = $1', [id]))[0];
      if (!r || readBool(r.disabled) || !r.password_hash) return hasher.dummyVerify(password);
      const ok = await hasher.verify(r.password_hash, password);
      if (ok && hasher.needsRehash(r.password_hash)) {
        // Parameters changed in config: upgrade the stored hash while we hold the clear password.
        await Account.update({ passwordHash: await hasher.hash(password) }, { where: { id } });
      }
      return ok;
    },
    async setPassword(id, password, t) {
      const passwordHash = await hasher.hash(password);
      await Account.update({ passwordHash, passwordChangedAt: clock.now() }, { where: { id }, transaction: t as Transaction | undefined });
    },
    async revokeEverything(id, t) {
      await revokeAccountState(store, id, t as Transaction | undefined);
    },
    async markContactVerified(id, kind, value, t) {
      const row = await Account.findByPk(id, { transaction: t as Transaction | undefined });
      if (!row) return;
      if (kind === 'email' && row.email && row.email.toLowerCase() === value.toLowerCase()) {
        await Account.update({ emailVerified: true }, { where: { id }, transaction: t as Transaction | undefined });
      }
      if (kind === 'phone' && row.phone === value) {
        await Account.update({ phoneVerified: true }, { where: { id }, transaction: t as Transaction | undefined });
      }
    },
    // Sessions live in the same database (oidc_payloads), read and ended by src/store/sessions.ts.
    async listSessions(accountId, currentSessionId) {
      const [sessions, grantsElsewhere] = await Promise.all([
        listAccountSessions(store, accountId, clock.now()),
        countGrantsElsewhere(store, accountId, currentSessionId),
      ]);
      return { sessions, grantsElsewhere };
    },
    async endOtherSessions(accountId, keepSessionId, t) {
      const given = t as Transaction | undefined;
      return given ? endOtherSessions(store, accountId, keepSessionId, given) : store.transaction((own) => endOtherSessions(store, accountId, keepSessionId, own));
    },
    async rememberLanguage(id, language) {
      // On a sign-in (first one of an account, or after a language switch): a prepared statement.
      await fast.run('UPDATE accounts SET language = $1, updated_at = $2 WHERE id = $3 AND (language IS NULL OR language <> $1)',
        [language, dateParam(clock.now()), id]);
    },
  };
}
