import { DataTypes, Op, UniqueConstraintError, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import type { ChallengeRow, ChallengeStore, PasskeyCredential, PasskeyRepository, TransactionHandle } from '../sspr/ports.ts';
import { transactionOf, type Store } from './index.ts';

/** Table `passkey_credentials` (migration 0010); transports as a JSON array. */
type PasskeyRow = Omit<PasskeyCredential, 'transports'> & { transports: string };
type PasskeyModel = ModelStatic<Model<PasskeyRow, PasskeyRow> & PasskeyRow>;
type ChallengeModel = ModelStatic<Model<ChallengeRow, ChallengeRow> & ChallengeRow>;

/** Defines the models once per Sequelize instance (the CLI, the server and tests share one). */
export function definePasskeyModels(sequelize: Sequelize): { Passkey: PasskeyModel; Challenge: ChallengeModel } {
  const Passkey = (sequelize.isDefined('PasskeyCredential') ? sequelize.model('PasskeyCredential') : sequelize.define('PasskeyCredential', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    accountId: { type: DataTypes.STRING(64), allowNull: false },
    credentialId: { type: DataTypes.STRING(1400), allowNull: false },
    publicKey: { type: DataTypes.TEXT, allowNull: false },
    signCount: { type: DataTypes.BIGINT, allowNull: false, get(this: Model) { return Number(this.getDataValue('signCount')); } },
    transports: { type: DataTypes.STRING(200), allowNull: false },
    aaguid: { type: DataTypes.STRING(64), allowNull: true },
    name: { type: DataTypes.STRING(100), allowNull: false },
    createdAt: { type: DataTypes.DATE, allowNull: false },
    lastUsedAt: { type: DataTypes.DATE, allowNull: true },
  }, { underscored: true, timestamps: false, tableName: 'passkey_credentials' })) as PasskeyModel;
  const Challenge = (sequelize.isDefined('WebauthnChallenge') ? sequelize.model('WebauthnChallenge') : sequelize.define('WebauthnChallenge', {
    challenge: { type: DataTypes.STRING(128), primaryKey: true, allowNull: false },
    purpose: { type: DataTypes.STRING(32), allowNull: false },
    binding: { type: DataTypes.STRING(200), allowNull: false },
    accountId: { type: DataTypes.STRING(64), allowNull: true },
    expiresAt: { type: DataTypes.DATE, allowNull: false },
    usedAt: { type: DataTypes.DATE, allowNull: true },
  }, { underscored: true, timestamps: false, tableName: 'webauthn_challenges' })) as ChallengeModel;
  return { Passkey, Challenge };
}

function plain(row: PasskeyRow): PasskeyCredential {
  let transports: string[] = [];
  try {
    const parsed: unknown = JSON.parse(row.transports);
    if (Array.isArray(parsed)) transports = parsed.filter((x): x is string => typeof x === 'string');
  } catch {
    // A damaged column only loses the transport hints; the credential still works.
  }
  return {
    id: row.id, accountId: row.accountId, credentialId: row.credentialId, publicKey: row.publicKey, signCount: Number(row.signCount),
    transports, aaguid: row.aaguid, name: row.name, createdAt: row.createdAt, lastUsedAt: row.lastUsedAt,
  };
}

export function createPasskeyRepository(store: Store): PasskeyRepository {
  const { Passkey } = definePasskeyModels(store.sequelize);
  return {
    async listByAccount(accountId, t) {
      const rows = await Passkey.findAll({ where: { accountId }, order: [['createdAt', 'ASC'], ['id', 'ASC']], transaction: transactionOf(t) });
      return rows.map((r) => plain(r.get({ plain: true })));
    },

    async insert(c, t) {
      try {
        await Passkey.create({ ...c, transports: JSON.stringify(c.transports) }, { transaction: transactionOf(t) });
        return true;
      } catch (err) {
        if (err instanceof UniqueConstraintError) return false;
        throw err;
      }
    },

    async rename(accountId, id, name, t) {
      const [n] = await Passkey.update({ name }, { where: { id, accountId }, transaction: transactionOf(t) });
      return n === 1;
    },

    async remove(accountId, id, t) {
      const row = await Passkey.findOne({ where: { id, accountId }, transaction: transactionOf(t) });
      if (!row) return null;
      const n = await Passkey.destroy({ where: { id, accountId }, transaction: transactionOf(t) });
      return n === 1 ? plain(row.get({ plain: true })) : null;
    },

    async recordUse(id, expected, next, at, t) {
      // The count in the WHERE is the compare-and-set: of two requests replaying one assertion, one matches.
      const [n] = await Passkey.update({ signCount: next, lastUsedAt: at }, { where: { id, signCount: expected }, transaction: transactionOf(t) });
      return n === 1;
    },
  };
}

export function createChallengeStore(store: Store): ChallengeStore {
  const { Challenge } = definePasskeyModels(store.sequelize);
  return {
    async insert(row, t) {
      await Challenge.create({ ...row }, { transaction: transactionOf(t) });
    },

    async consume(challenge, purpose, binding, now, t) {
      // `usedAt: null` in the WHERE is the single-use guarantee (docs/security.md, mutation check).
      const [n] = await Challenge.update({ usedAt: now }, {
        where: { challenge, purpose, binding, usedAt: null, expiresAt: { [Op.gt]: now } }, transaction: transactionOf(t),
      });
      if (n !== 1) return null;
      const row = await Challenge.findByPk(challenge, { transaction: transactionOf(t) });
      return row ? row.get({ plain: true }) : null;
    },

    async purgeExpired(now, t) {
      return Challenge.destroy({ where: { expiresAt: { [Op.lte]: now } }, transaction: transactionOf(t) });
    },
  };
}
