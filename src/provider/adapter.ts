import type { Adapter, AdapterPayload } from 'oidc-provider';
import { Op } from 'sequelize';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';

/** Models whose rows carry the account they belong to, so one account's state can be found at once. */
type AdapterClass = new (name: string) => Adapter;

/**
 * oidc-provider's storage on Sequelize: one table keyed by (model, id), with the lookup keys the
 * provider searches by in their own indexed columns. Every instance sharing the database sees the
 * same sessions, interactions, codes and tokens, so any instance can continue a flow.
 */
export function createSequelizeAdapter(store: Store, clock: Clock): AdapterClass {
  const { OidcPayload } = store.models;
  const notExpired = () => ({ [Op.or]: [{ expiresAt: null }, { expiresAt: { [Op.gt]: clock.now() } }] });

  return class SequelizeAdapter implements Adapter {
    name: string;
    constructor(name: string) {
      this.name = name;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      await OidcPayload.upsert({
        model: this.name,
        id,
        payload: JSON.stringify(payload),
        grantId: payload.grantId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        accountId: payload.accountId ?? null,
        expiresAt: expiresIn ? new Date(clock.now().getTime() + expiresIn * 1000) : null,
        consumedAt: null,
      });
    }

    private async findWhere(where: Record<string, unknown>): Promise<AdapterPayload | undefined> {
      const row = await OidcPayload.findOne({ where: { model: this.name, ...where, ...notExpired() } });
      if (!row) return undefined;
      const payload = JSON.parse(row.payload) as AdapterPayload;
      // A truthy `consumed` lets the provider detect a replayed authorization code.
      return row.consumedAt ? { ...payload, consumed: Math.floor(row.consumedAt.getTime() / 1000) } : payload;
    }

    find(id: string) {
      return this.findWhere({ id });
    }

    findByUid(uid: string) {
      return this.findWhere({ uid });
    }

    findByUserCode(userCode: string) {
      return this.findWhere({ userCode });
    }

    async consume(id: string): Promise<void> {
      await OidcPayload.update({ consumedAt: clock.now() }, { where: { model: this.name, id } });
    }

    async destroy(id: string): Promise<void> {
      await OidcPayload.destroy({ where: { model: this.name, id } });
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await OidcPayload.destroy({ where: { model: this.name, grantId } });
    }
  };
}

/** Deletes provider rows past their expiry (run periodically; `find` already ignores them). */
export async function purgeExpiredProviderState(store: Store, clock: Clock): Promise<number> {
  return store.models.OidcPayload.destroy({ where: { expiresAt: { [Op.lt]: clock.now() } } });
}
