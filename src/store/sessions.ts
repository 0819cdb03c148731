import { Op } from 'sequelize';
import { EPOCH_FIELD } from '../provider/credentials-epoch.ts';
import { deviceOf } from '../provider/session-device.ts';
import type { DirectorySession } from '../sspr/ports.ts';
import type { Store, Transaction } from './index.ts';
import { moveCredentialsEpoch } from './revoke.ts';

/** One of an account's single-sign-on sessions, as `/account/security` lists them (the port's shape). */
export type AccountSession = DirectorySession;

/** The parts of oidc-provider's Session payload read here. */
interface SessionPayload {
  loginTs?: number;
  exp?: number;
  authorizations?: Record<string, { grantId?: string }>;
}

function parse(payload: string): SessionPayload {
  try {
    const parsed: unknown = JSON.parse(payload);
    return typeof parsed === 'object' && parsed !== null ? (parsed as SessionPayload) : {};
  } catch {
    return {};
  }
}

const fromEpoch = (s: number | undefined) => (typeof s === 'number' ? new Date(s * 1000) : null);

/** The account's sessions that have not expired, most recent sign-in first. */
export async function listAccountSessions(store: Store, accountId: string, now: Date): Promise<AccountSession[]> {
  const rows = await store.models.OidcPayload.findAll({
    attributes: ['id', 'payload', 'expiresAt'],
    where: { model: 'Session', accountId, [Op.or]: [{ expiresAt: null }, { expiresAt: { [Op.gt]: now } }] },
  });
  return rows
    .map((row) => {
      const p = parse(row.payload);
      const device = deviceOf(p);
      return {
        id: row.id,
        signedInAt: fromEpoch(p.loginTs),
        expiresAt: row.expiresAt ?? fromEpoch(p.exp),
        clients: Object.keys(p.authorizations ?? {}).sort(),
        userAgent: device?.ua ?? null,
        network: device?.net ?? null,
      };
    })
    .sort((a, b) => (b.signedInAt?.getTime() ?? 0) - (a.signedInAt?.getTime() ?? 0));
}

/**
 * How many of the account's grants the session `currentSessionId` does not use: apps still holding
 * access elsewhere, offline (refresh-token) access whose session ended included.
 */
export async function countGrantsElsewhere(store: Store, accountId: string, currentSessionId: string): Promise<number> {
  const { OidcPayload } = store.models;
  const current = await OidcPayload.findOne({ attributes: ['payload'], where: { model: 'Session', id: currentSessionId } });
  const used = new Set(Object.values(current ? parse(current.payload).authorizations ?? {} : {}).map((a) => a.grantId));
  const grants = await OidcPayload.findAll({ attributes: ['id'], where: { model: 'Grant', accountId } });
  return grants.filter((g) => !used.has(g.id)).length;
}

/** Writes a payload back with the account's new credentials epoch (see src/provider/credentials-epoch.ts). */
function restamped(payload: string, epoch: number): string {
  const parsed = parse(payload) as Record<string, unknown>;
  return JSON.stringify({ ...parsed, [EPOCH_FIELD]: epoch });
}

/**
 * "Sign out everywhere else": a credential event. The account's credentials epoch moves, so every
 * other session and every grant made under the old epoch — offline (refresh-token) grants whose
 * session ended long ago included — is refused at its next use, on any instance, even if a racing
 * request writes it back. Only the kept session and the grants it uses are stamped with the new
 * epoch. The rows of everything else are then deleted as clean-up.
 */
export async function endOtherSessions(store: Store, accountId: string, keepSessionId: string, t: Transaction): Promise<{ sessions: number }> {
  const { OidcPayload, Account } = store.models;
  await moveCredentialsEpoch(store, accountId, t);
  const epoch = (await Account.findByPk(accountId, { attributes: ['credentialsEpoch'], transaction: t }))?.credentialsEpoch ?? 0;
  const rows = await OidcPayload.findAll({ attributes: ['id', 'payload'], where: { model: 'Session', accountId }, transaction: t });
  const grantsOf = (payload: string) => Object.values(parse(payload).authorizations ?? {}).map((a) => a.grantId).filter((g): g is string => typeof g === 'string');
  const keptSession = rows.find((r) => r.id === keepSessionId);
  const keptGrants = keptSession ? grantsOf(keptSession.payload) : [];
  if (keptSession) {
    await OidcPayload.update({ payload: restamped(keptSession.payload, epoch) }, { where: { model: 'Session', id: keptSession.id }, transaction: t });
  }
  const grants = await OidcPayload.findAll({ attributes: ['id', 'payload'], where: { model: 'Grant', accountId }, transaction: t });
  for (const grant of grants.filter((g) => keptGrants.includes(g.id))) {
    await OidcPayload.update({ payload: restamped(grant.payload, epoch) }, { where: { model: 'Grant', id: grant.id }, transaction: t });
  }
  const others = rows.filter((r) => r.id !== keepSessionId);
  const ended = [...new Set([...grants.map((g) => g.id), ...others.flatMap((r) => grantsOf(r.payload))])].filter((g) => !keptGrants.includes(g));
  if (others.length) await OidcPayload.destroy({ where: { model: 'Session', accountId, id: { [Op.in]: others.map((r) => r.id) } }, transaction: t });
  if (ended.length) {
    await OidcPayload.destroy({ where: { [Op.or]: [{ grantId: { [Op.in]: ended } }, { model: 'Grant', id: { [Op.in]: ended } }] }, transaction: t });
  }
  return { sessions: others.length };
}
