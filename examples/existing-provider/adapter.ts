import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';
import type { DirectorySessions } from 'oidc-sspr';

interface Entry { model: string; id: string; payload: AdapterPayload; expiresAt: number }

/** The host's storage as the account directory uses it (see accounts.ts). */
export interface MemoryStorage {
  adapter: AdapterFactory;
  /** Ends everything of an account after a password reset. */
  revokeAccount(accountId: string): Promise<void>;
  /** The account's live sessions, for `/account/security`. */
  listSessions(accountId: string, currentSessionId: string): Promise<DirectorySessions>;
  /** Ends every other session and grant; `stamp` marks the kept session and its grants with the new epoch. */
  endOtherSessions(accountId: string, keepSessionId: string, stamp: (payload: AdapterPayload) => void): Promise<{ sessions: number }>;
}

/**
 * The host's storage for oidc-provider (sessions, grants, codes, tokens, interactions): a plain
 * in-memory map, like oidc-provider's built-in development adapter, plus what oidc-sspr needs from
 * it — `revokeAccount` after a password reset, and the account's sessions for `/account/security`.
 * A real host does the same in its database (our server's SQL version: src/store/revoke.ts, sessions.ts).
 */
export function createMemoryAdapter(): MemoryStorage {
  const entries = new Map<string, Entry>();
  const live = (key: string): Entry | undefined => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) entries.delete(key);
    return entries.get(key);
  };
  const findWhere = (model: string, match: (payload: AdapterPayload) => boolean) =>
    [...entries.keys()].map(live).find((e) => e?.model === model && match(e.payload))?.payload;

  const adapter: AdapterFactory = (model): Adapter => ({
    async upsert(id, payload, expiresIn) {
      entries.set(`${model}:${id}`, { model, id, payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    },
    async find(id) {
      return live(`${model}:${id}`)?.payload;
    },
    async findByUid(uid) {
      return findWhere(model, (p) => p.uid === uid);
    },
    async findByUserCode(userCode) {
      return findWhere(model, (p) => p.userCode === userCode);
    },
    async consume(id) {
      const entry = live(`${model}:${id}`);
      if (entry) entry.payload.consumed = Math.floor(Date.now() / 1000);
    },
    async destroy(id) {
      entries.delete(`${model}:${id}`);
    },
    async revokeByGrantId(grantId) {
      for (const [key, entry] of entries) if (entry.model !== 'Interaction' && entry.payload.grantId === grantId) entries.delete(key);
    },
  });

  const liveOf = (model: string, accountId: string) =>
    [...entries.keys()].map(live).filter((e): e is Entry => e?.model === model && e.payload.accountId === accountId);
  /** Grant ids a session signed in to apps with (oidc-provider keeps them under `authorizations`). */
  const grantsOf = (payload: AdapterPayload) =>
    Object.values((payload.authorizations ?? {}) as Record<string, { grantId?: string }>).map((a) => a.grantId).filter((g): g is string => !!g);
  const seconds = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000) : null);

  return {
    adapter,
    async listSessions(accountId, currentSessionId) {
      const sessions = liveOf('Session', accountId)
        .map((e) => ({
          id: e.id,
          signedInAt: seconds(e.payload.loginTs),
          expiresAt: Number.isFinite(e.expiresAt) ? new Date(e.expiresAt) : null,
          clients: Object.keys(e.payload.authorizations ?? {}).sort(),
        }))
        .sort((a, b) => (b.signedInAt?.getTime() ?? 0) - (a.signedInAt?.getTime() ?? 0));
      const current = live(`Session:${currentSessionId}`);
      const used = new Set(current ? grantsOf(current.payload) : []);
      return { sessions, grantsElsewhere: liveOf('Grant', accountId).filter((g) => !used.has(g.id)).length };
    },
    async endOtherSessions(accountId, keepSessionId, stamp) {
      const kept = live(`Session:${keepSessionId}`);
      const keptGrants = new Set(kept && kept.payload.accountId === accountId ? grantsOf(kept.payload) : []);
      if (kept && kept.payload.accountId === accountId) stamp(kept.payload);
      const others = liveOf('Session', accountId).filter((e) => e.id !== keepSessionId);
      const ended = new Set([...liveOf('Grant', accountId).map((g) => g.id), ...others.flatMap((e) => grantsOf(e.payload))]);
      for (const id of keptGrants) {
        ended.delete(id);
        const grant = live(`Grant:${id}`);
        if (grant) stamp(grant.payload);
      }
      for (const e of others) entries.delete(`Session:${e.id}`);
      for (const [key, entry] of entries) {
        if (entry.model === 'Interaction') continue;
        if ((entry.model === 'Grant' && ended.has(entry.id)) || (typeof entry.payload.grantId === 'string' && ended.has(entry.payload.grantId))) entries.delete(key);
      }
      return { sessions: others.length };
    },
    async revokeAccount(accountId) {
      // The account's sessions, grants and tokens, then whatever else hangs off those grants.
      // Interactions in progress stay: oidc-sspr detaches the one doing the reset and the user signs in again.
      const grantIds = new Set<string>();
      for (const [key, entry] of entries) {
        if (entry.model === 'Interaction' || entry.payload.accountId !== accountId) continue;
        if (entry.model === 'Grant') grantIds.add(entry.id);
        if (entry.payload.grantId) grantIds.add(entry.payload.grantId);
        entries.delete(key);
      }
      for (const [key, entry] of entries) {
        if (entry.model !== 'Interaction' && entry.payload.grantId && grantIds.has(entry.payload.grantId)) entries.delete(key);
      }
    },
  };
}
