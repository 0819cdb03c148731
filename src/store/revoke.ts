import { Op } from 'sequelize';
import type { Store, Transaction } from './index.ts';

/** IN lists stay well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 500;

/**
 * Ends every way into one account: first moves its credentials epoch — the security boundary: every
 * session, login result and grant made before is refused at its next use, on any instance, even one
 * a concurrent request writes back after the deletes below — then deletes what oidc-provider holds for
 * it (sessions, grants, authorization codes, access and refresh tokens, all in `oidc_payloads`), as
 * clean-up.
 *
 * Two sweeps, in the caller's transaction:
 * 1. every row whose indexed `account_id` is the account (the adapter stamps Session and Grant rows;
 *    rows of older versions stamped tokens and codes too);
 * 2. every row whose `grant_id` belongs to one of those grants — the ids of the account's `Grant`
 *    rows plus any grant ids named by the rows of sweep 1 — which is how its authorization codes,
 *    access and refresh tokens go.
 * Interactions in progress are not touched (they carry no accountId column): a login result parked in
 * one carries the epoch its password was checked under and is refused when resumed.
 *
 * Returns the number of rows deleted.
 */
export async function revokeAccountState(store: Store, accountId: string, t?: Transaction): Promise<number> {
  const { OidcPayload } = store.models;
  await moveCredentialsEpoch(store, accountId, t);
  const owned = await OidcPayload.findAll({
    attributes: ['model', 'id', 'grantId'],
    where: { accountId },
    transaction: t,
  });
  const grantIds = new Set<string>();
  for (const row of owned) {
    if (row.grantId) grantIds.add(row.grantId);
    if (row.model === 'Grant') grantIds.add(row.id);
  }
  let deleted = await OidcPayload.destroy({ where: { accountId }, transaction: t });
  const ids = [...grantIds];
  for (let i = 0; i < ids.length; i += CHUNK) {
    deleted += await OidcPayload.destroy({
      where: { grantId: { [Op.in]: ids.slice(i, i + CHUNK) } },
      transaction: t,
    });
  }
  return deleted;
}

/** One atomic increment, so two credential events at once still move the epoch twice. */
export async function moveCredentialsEpoch(store: Store, accountId: string, t?: Transaction): Promise<void> {
  await store.sequelize.query('UPDATE accounts SET credentials_epoch = credentials_epoch + 1 WHERE id = :id', { replacements: { id: accountId }, transaction: t });
}
