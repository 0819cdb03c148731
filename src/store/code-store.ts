import { Op } from 'sequelize';
import type { CodeStore } from '../sspr/ports.ts';
import { transactionOf, type Store, type Transaction } from './index.ts';

/**
 * One-time codes (`one_time_codes`) on the OneTimeCode model. The attempt count and the use are
 * conditional UPDATEs (the condition in the WHERE clause), so concurrent guesses can never exceed
 * the cap and a code is accepted at most once, under any isolation level (codes.ts header).
 */
export function createCodeStore(store: Store): CodeStore {
  const { OneTimeCode } = store.models;
  return {
    async replace(code, t) {
      const write = async (tx: Transaction) => {
        // A newer code voids the older one, so only the code in the latest message works.
        await OneTimeCode.update(
          { usedAt: code.createdAt },
          { where: { flowId: code.flowId, channel: code.channel, usedAt: null }, transaction: tx },
        );
        await OneTimeCode.create(code, { transaction: tx });
      };
      const outer = transactionOf(t);
      if (outer) await write(outer);
      else await store.transaction(write);
    },

    async latestUnused(flowId, channel, t) {
      const row = await OneTimeCode.findOne({
        where: { flowId, channel, usedAt: null },
        order: [['createdAt', 'DESC']],
        transaction: transactionOf(t),
      });
      return row ? { ...row.get({ plain: true }), createdAt: row.createdAt ?? row.expiresAt } : null;
    },

    countIssued(flowId, channel, t) {
      return OneTimeCode.count({ where: { flowId, channel }, transaction: transactionOf(t) });
    },

    async countAttempt(id, maxAttempts, t) {
      const [counted] = await OneTimeCode.update(
        // The typed attribute wants a number; the literal makes the database do the arithmetic.
        { attempts: store.sequelize.literal('attempts + 1') as unknown as number },
        { where: { id, usedAt: null, attempts: { [Op.lt]: maxAttempts } }, transaction: transactionOf(t) },
      );
      return counted === 1;
    },

    async find(id, t) {
      const row = await OneTimeCode.findByPk(id, { transaction: transactionOf(t) });
      return row ? { ...row.get({ plain: true }), createdAt: row.createdAt ?? row.expiresAt } : null;
    },

    async consume(id, at, t) {
      const [consumed] = await OneTimeCode.update({ usedAt: at }, { where: { id, usedAt: null }, transaction: transactionOf(t) });
      return consumed === 1;
    },

    async isReplaced(flowId, channel, codeHash, t) {
      // Voided codes are marked used; the newest unused one is not among them.
      const n = await OneTimeCode.count({ where: { flowId, channel, codeHash, usedAt: { [Op.ne]: null } }, transaction: transactionOf(t) });
      return n > 0;
    },

    purgeExpired(now, t) {
      return OneTimeCode.destroy({ where: { expiresAt: { [Op.lte]: now } }, transaction: transactionOf(t) });
    },
  };
}
