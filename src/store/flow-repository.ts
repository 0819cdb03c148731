import { Op, UniqueConstraintError } from 'sequelize';
import type { FlowRepository } from '../sspr/ports.ts';
import { transactionOf, type Store } from './index.ts';

/**
 * Registration and reset flows (`flows`) on the Flow model. Updates are compare-and-set in their
 * WHERE clause, so two tabs or a replayed form cannot both move a flow, on any isolation level.
 */
export function createFlowRepository(store: Store): FlowRepository {
  const { Flow } = store.models;
  return {
    async find(kind, id, t) {
      const row = await Flow.findOne({ where: { id, kind }, transaction: transactionOf(t) });
      return row ? row.get({ plain: true }) : null;
    },

    async findOpen(kind, { accountId, interactionUid, now }, t) {
      const row = await Flow.findOne({
        where: { kind, accountId, interactionUid, state: { [Op.ne]: 'done' }, expiresAt: { [Op.gt]: now } },
        order: [['createdAt', 'DESC']],
        transaction: transactionOf(t),
      });
      return row ? row.get({ plain: true }) : null;
    },

    async insert(row, t) {
      try {
        await Flow.create(row, { transaction: transactionOf(t) });
        return true;
      } catch (err) {
        // Two posts of one page race on the primary key: the loser is told, not failed.
        if (err instanceof UniqueConstraintError) return false;
        throw err;
      }
    },

    async update(kind, id, expected, changes, t) {
      const where = expected.data === undefined ? { id, kind, state: expected.state } : { id, kind, state: expected.state, data: expected.data };
      const [n] = await Flow.update(changes, { where, transaction: transactionOf(t) });
      return n === 1;
    },

    purgeExpired(kind, until, t) {
      return Flow.destroy({ where: { kind, expiresAt: { [Op.lte]: until } }, transaction: transactionOf(t) });
    },
  };
}
