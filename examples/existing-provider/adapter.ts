import type { Adapter, AdapterFactory, AdapterPayload } from 'oidc-provider';

interface Entry { model: string; id: string; payload: AdapterPayload; expiresAt: number }

/**
 * The host's storage for oidc-provider (sessions, grants, codes, tokens, interactions): a plain
 * in-memory map, like oidc-provider's built-in development adapter, plus the one thing oidc-sspr
 * needs from it — `revokeAccount`, which ends everything of an account after a password reset.
 * A real host does the same in its database (our server's SQL version: src/store/revoke.ts).
 */
export function createMemoryAdapter(): { adapter: AdapterFactory; revokeAccount(accountId: string): Promise<void> } {
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

  return {
    adapter,
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
