import { Op } from 'sequelize';
import type { Store, Transaction } from './index.ts';

/** One of an account's single-sign-on sessions, as `/account/security` lists them. */
export interface AccountSession {
  /** The session's id (its cookie value): never shown, only compared. */
  id: string;
  signedInAt: Date | null;
  expiresAt: Date | null;
  /** Client ids the session has signed in to. */
  clients: string[];
}

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
      return { id: row.id, signedInAt: fromEpoch(p.loginTs), expiresAt: row.expiresAt ?? fromEpoch(p.exp), clients: Object.keys(p.authorizations ?? {}).sort() };
    })
    .sort((a, b) => (b.signedInAt?.getTime() ?? 0) - (a.signedInAt?.getTime() ?? 0));
}

/**
 * Ends every session of the account except `keepSessionId`, with the grants those sessions made and
 * every token and code issued under them (a refresh token must not outlive the session it came from
 * when the user asked to be signed out there). Grants the kept session also uses stay.
 */
export async function endOtherSessions(store: Store, accountId: string, keepSessionId: string, t: Transaction): Promise<{ sessions: number }> {
  const { OidcPayload } = store.models;
  const rows = await OidcPayload.findAll({ attributes: ['id', 'payload'], where: { model: 'Session', accountId }, transaction: t });
  const grantsOf = (payload: string) => Object.values(parse(payload).authorizations ?? {}).map((a) => a.grantId).filter((g): g is string => typeof g === 'string');
  const kept = new Set(rows.filter((r) => r.id === keepSessionId).flatMap((r) => grantsOf(r.payload)));
  const others = rows.filter((r) => r.id !== keepSessionId);
  const grants = [...new Set(others.flatMap((r) => grantsOf(r.payload)))].filter((g) => !kept.has(g));
  if (others.length) await OidcPayload.destroy({ where: { model: 'Session', accountId, id: { [Op.in]: others.map((r) => r.id) } }, transaction: t });
  if (grants.length) {
    await OidcPayload.destroy({ where: { [Op.or]: [{ grantId: { [Op.in]: grants } }, { model: 'Grant', id: { [Op.in]: grants } }] }, transaction: t });
  }
  return { sessions: others.length };
}
