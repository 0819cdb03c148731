import { Op, fn, col, where as sqlWhere } from 'sequelize';
import type { Clock } from '../clock.ts';
import type { AccountDirectory, DirectoryAccount } from '../sspr/ports.ts';
import type { PasswordHasher } from '../sspr/password-hash.ts';
import type { AccountRow, Store, Transaction } from './index.ts';
import { revokeAccountState } from './revoke.ts';

export interface SequelizeDirectory extends AccountDirectory {
  /** The stored row, for claims. */
  findRow(id: string): Promise<AccountRow | null>;
}

/** Our server's AccountDirectory: accounts, groups and provider state in the same database. */
export function createSequelizeDirectory(store: Store, hasher: PasswordHasher, clock: Clock): SequelizeDirectory {
  const { Account, Group, Membership } = store.models;

  async function toDirectoryAccount(row: AccountRow): Promise<DirectoryAccount> {
    const memberships = await Membership.findAll({ where: { accountId: row.id }, attributes: ['groupId'] });
    const groups = memberships.length
      ? (await Group.findAll({ where: { id: memberships.map((m) => m.groupId) }, attributes: ['name'] })).map((g) => g.name)
      : [];
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
    };
  }

  return {
    async findRow(id) {
      const row = await Account.findByPk(id);
      return row ? row.get({ plain: true }) : null;
    },
    async findById(id) {
      const row = await Account.findByPk(id);
      return row ? toDirectoryAccount(row.get({ plain: true })) : null;
    },
    async findByIdentifier(identifier) {
      const wanted = identifier.trim().toLowerCase();
      if (!wanted || wanted.length > 320) return null;
      const rows = await Account.findAll({
        where: {
          [Op.or]: [
            sqlWhere(fn('lower', col('login')), wanted),
            sqlWhere(fn('lower', col('email')), wanted),
          ],
        },
        limit: 2,
      });
      // A login name wins over someone else's email address; two accounts sharing an email match neither.
      const byLogin = rows.find((r) => r.login.toLowerCase() === wanted);
      const row = byLogin ?? (rows.length === 1 ? rows[0] : undefined);
      return row ? toDirectoryAccount(row.get({ plain: true })) : null;
    },
    async listAdmins() {
      const rows = await Account.findAll({ where: { isAdmin: true, disabled: false } });
      return Promise.all(rows.map((r) => toDirectoryAccount(r.get({ plain: true }))));
    },
    async verifyPassword(id, password) {
      const row = await Account.findByPk(id, { attributes: ['id', 'passwordHash', 'disabled'] });
      if (!row || row.disabled || !row.passwordHash) return hasher.dummyVerify(password);
      const ok = await hasher.verify(row.passwordHash, password);
      if (ok && hasher.needsRehash(row.passwordHash)) {
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
    async rememberLanguage(id, language) {
      await Account.update({ language }, { where: { id, language: { [Op.or]: [{ [Op.ne]: language }, { [Op.is]: null }] } } });
    },
  };
}
