import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import type { Clock } from '../clock.ts';
import type { MethodType, StoredMethod } from '../sspr/methods/types.ts';
import type { MethodRepository, TransactionHandle } from '../sspr/ports.ts';
import { transactionOf, type RecoveryMethodRow, type Store, type Transaction } from './index.ts';
import { defineSsprModels } from './sspr-models.ts';
import { definePasskeyModels } from './passkey-repository.ts';

function toStored(row: RecoveryMethodRow): StoredMethod {
  return {
    id: row.id,
    accountId: row.accountId,
    type: row.type as MethodType,
    target: row.target,
    secretEnc: row.secretEnc,
    lastTimeStep: row.lastTimeStep === null || row.lastTimeStep === undefined ? null : Number(row.lastTimeStep),
    verifiedAt: row.verifiedAt,
  };
}

/**
 * Registered methods (`recovery_methods`) and per-account SSPR facts (`sspr_profiles`) on Sequelize
 * models. Only proven methods are stored: what is being registered lives in the flow until its code matches.
 */
export function createMethodRepository({ store, clock }: { store: Store; clock: Clock }): MethodRepository {
  const { RecoveryMethod } = store.models;
  const { SsprProfile } = defineSsprModels(store.sequelize);
  // Passkeys have their own table (several per account); as methods they are one type among the others.
  const { Passkey } = definePasskeyModels(store.sequelize);
  // Writes of several statements run in the caller's transaction, or in their own.
  const inTx = <T>(t: TransactionHandle | undefined, fn: (tx: Transaction) => Promise<T>) => {
    const outer = transactionOf(t);
    return outer ? fn(outer) : store.transaction(fn);
  };

  return {
    async listVerified(accountId, t) {
      const rows = await RecoveryMethod.findAll({
        where: { accountId, verifiedAt: { [Op.ne]: null } },
        order: [['type', 'ASC'], ['verifiedAt', 'ASC']],
        transaction: transactionOf(t),
      });
      const passkeys = await Passkey.findAll({ where: { accountId }, order: [['createdAt', 'ASC'], ['id', 'ASC']], transaction: transactionOf(t) });
      return [
        ...rows.map((r) => toStored(r.get({ plain: true }))),
        ...passkeys.map((p): StoredMethod => ({
          id: p.id, accountId: p.accountId, type: 'passkey', target: p.name, secretEnc: null, lastTimeStep: null, verifiedAt: p.createdAt,
        })),
      ];
    },

    saveVerified(input, t) {
      return inTx(t, async (tx) => {
        // One method per type: registering a new number replaces the old one.
        await RecoveryMethod.destroy({ where: { accountId: input.accountId, type: input.type }, transaction: tx });
        const row = await RecoveryMethod.create({
          id: randomUUID(),
          accountId: input.accountId,
          type: input.type,
          target: input.target ?? null,
          secretEnc: input.secretEnc ?? null,
          lastTimeStep: input.lastTimeStep ?? null,
          verifiedAt: clock.now(),
        }, { transaction: tx });
        return toStored(row.get({ plain: true }));
      });
    },

    remove(accountId, methodId, t) {
      return inTx(t, async (tx) => {
        const row = await RecoveryMethod.findOne({ where: { id: methodId, accountId }, transaction: tx });
        if (!row) {
          const passkey = await Passkey.findOne({ where: { id: methodId, accountId }, transaction: tx });
          if (!passkey || (await Passkey.destroy({ where: { id: methodId, accountId }, transaction: tx })) !== 1) return null;
          return { id: passkey.id, accountId, type: 'passkey', target: passkey.name, secretEnc: null, lastTimeStep: null, verifiedAt: passkey.createdAt };
        }
        const stored = toStored(row.get({ plain: true }));
        await RecoveryMethod.destroy({ where: { id: methodId, accountId }, transaction: tx });
        return stored;
      });
    },

    async advanceTimeStep(methodId, step, t) {
      // Conditional UPDATE: two requests with the same code cannot both win, on any isolation level.
      const [n] = await RecoveryMethod.update(
        { lastTimeStep: step },
        { where: { id: methodId, [Op.or]: [{ lastTimeStep: null }, { lastTimeStep: { [Op.lt]: step } }] }, transaction: transactionOf(t) },
      );
      return n === 1;
    },

    async replaceSecret(methodId, expected, next, t) {
      // Conditional UPDATE, as advanceTimeStep: of two requests using codes of one set, one wins.
      const [n] = await RecoveryMethod.update({ secretEnc: next }, { where: { id: methodId, secretEnc: expected }, transaction: transactionOf(t) });
      return n === 1;
    },

    async confirmedAt(accountId, t) {
      const row = await SsprProfile.findByPk(accountId, { transaction: transactionOf(t) });
      return row?.confirmedAt ?? null;
    },

    async setConfirmedAt(accountId, when, t) {
      await inTx(t, async (tx) => {
        const [n] = await SsprProfile.update({ confirmedAt: when }, { where: { accountId }, transaction: tx });
        if (n === 0) await SsprProfile.create({ accountId, confirmedAt: when, lastResetAt: null }, { transaction: tx });
      });
    },

    async setLastResetAt(accountId, when, t) {
      await inTx(t, async (tx) => {
        const [n] = await SsprProfile.update({ lastResetAt: when }, { where: { accountId }, transaction: tx });
        if (n === 0) await SsprProfile.create({ accountId, confirmedAt: null, lastResetAt: when }, { transaction: tx });
      });
    },
  };
}
