import { Op } from 'sequelize';
import type { Store, Transaction } from './index.ts';

/** IN lists stay well under SQLite's and PostgreSQL's bound-parameter limits. */
const CHUNK = 500;

/**
 * Ends everything oidc-provider holds for one account: sessions, grants, authorization codes,
 * access and refresh tokens (all kept in `oidc_payloads`).
 *
 * Two sweeps, in the caller's transaction:
 * 1. every row whose indexed `account_id` is the account (Session, Grant, and the tokens and codes
 *    the adapter stamped with their accountId);
 * 2. every row whose `grant_id` belongs to one of those grants — the grant ids named by the rows of
 *    sweep 1 plus the ids of the account's `Grant` rows — so a token the adapter stored without an
 *    accountId still goes with its grant.
 * Interactions in progress are not touched: they carry no accountId column, and any session they
 * point at is gone, so finishing them fails and the user signs in again.
 *
 * Returns the number of rows deleted.
 */
export async function revokeAccountState(store: Store, accountId: string, t?: Transaction): Promise<number> {
  const { OidcPayload } = store.models;
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
