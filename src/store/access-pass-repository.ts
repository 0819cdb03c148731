import { DataTypes, Op, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import type { AccessPassRecord, AccessPassRepository } from '../sspr/access-pass.ts';
import { transactionOf, type Store } from './index.ts';
import type { TransactionHandle } from '../sspr/ports.ts';

/** Table `access_passes` (migration 0008). */
export type AccessPassRow = AccessPassRecord;

type AccessPassModel = ModelStatic<Model<AccessPassRow, AccessPassRow> & AccessPassRow>;

/**
 * Defines the model on one Sequelize instance, or returns the one already there: the CLI, the server
 * and tests each build a repository on the same instance.
 */
export function defineAccessPassModel(sequelize: Sequelize): AccessPassModel {
  if (sequelize.isDefined('AccessPass')) return sequelize.model('AccessPass') as AccessPassModel;
  return sequelize.define('AccessPass', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    accountId: { type: DataTypes.STRING(64), allowNull: false },
    passHash: { type: DataTypes.STRING(128), allowNull: false },
    oneTime: { type: DataTypes.BOOLEAN, allowNull: false },
    expiresAt: { type: DataTypes.DATE, allowNull: false },
    usedAt: { type: DataTypes.DATE, allowNull: true },
    revokedAt: { type: DataTypes.DATE, allowNull: true },
    createdAt: { type: DataTypes.DATE, allowNull: false },
    createdBy: { type: DataTypes.STRING(200), allowNull: true },
  }, { underscored: true, timestamps: false, tableName: 'access_passes' }) as AccessPassModel;
}

const plain = (row: AccessPassRow): AccessPassRecord => ({
  id: row.id, accountId: row.accountId, passHash: row.passHash, oneTime: row.oneTime, expiresAt: row.expiresAt,
  usedAt: row.usedAt, revokedAt: row.revokedAt, createdAt: row.createdAt, createdBy: row.createdBy,
});

/** The pass repository on Sequelize models (one style throughout: no raw SQL here). */
export function createAccessPassRepository(store: Store): AccessPassRepository {
  const AccessPass = defineAccessPassModel(store.sequelize);
  // A pass that has not ended yet: neither used, nor revoked, nor expired.
  const live = (now: Date) => ({ usedAt: null, revokedAt: null, expiresAt: { [Op.gt]: now } });
  return {
    transaction: <T>(fn: (t: TransactionHandle) => Promise<T>, t?: TransactionHandle) => (t ? fn(t) : store.transaction(fn)),

    async insert(pass, t) {
      await AccessPass.create({ ...pass }, { transaction: transactionOf(t) });
    },

    async latest(accountId, t) {
      // Of passes issued in the same instant the unrevoked one is the newer: issuing revoked the other.
      const row = await AccessPass.findOne({
        where: { accountId }, order: [['createdAt', 'DESC'], ['revokedAt', 'ASC NULLS FIRST'], ['id', 'DESC']], transaction: transactionOf(t),
      });
      return row ? plain(row) : null;
    },

    async revokeLive(accountId, now, t) {
      const [count] = await AccessPass.update({ revokedAt: now }, { where: { accountId, ...live(now) }, transaction: transactionOf(t) });
      return count;
    },

    async consume(id, now, t) {
      // `usedAt: null` in the WHERE is the whole single-use guarantee: of concurrent updates the
      // database lets exactly one match (docs/security.md, mutation check).
      const [count] = await AccessPass.update({ usedAt: now }, { where: { id, usedAt: null, revokedAt: null, expiresAt: { [Op.gt]: now } }, transaction: transactionOf(t) });
      return count === 1;
    },

    async deleteExpired(now, t) {
      return AccessPass.destroy({ where: { expiresAt: { [Op.lte]: now } }, transaction: transactionOf(t) });
    },
  };
}
