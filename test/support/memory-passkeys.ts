import type { AuditSink } from '../../src/audit/index.ts';
import type { ChallengeRow, ChallengeStore, PasskeyCredential, PasskeyRepository } from '../../src/sspr/ports.ts';

/** Passkey storage in memory, for tests that run the domain without a database. */
export function memoryPasskeys(audit: AuditSink): { repo: PasskeyRepository; challenges: ChallengeStore; audit: AuditSink } {
  const creds = new Map<string, PasskeyCredential>();
  const challenges = new Map<string, ChallengeRow>();
  return {
    audit,
    repo: {
      async listByAccount(accountId) { return [...creds.values()].filter((c) => c.accountId === accountId).map((c) => structuredClone(c)); },
      async insert(c) {
        if ([...creds.values()].some((x) => x.credentialId === c.credentialId)) return false;
        creds.set(c.id, structuredClone(c));
        return true;
      },
      async rename(accountId, id, name) {
        const c = creds.get(id);
        if (!c || c.accountId !== accountId) return false;
        c.name = name;
        return true;
      },
      async remove(accountId, id) {
        const c = creds.get(id);
        if (!c || c.accountId !== accountId) return null;
        creds.delete(id);
        return c;
      },
      async recordUse(id, expected, next, at) {
        const c = creds.get(id);
        if (!c || c.signCount !== expected) return false;
        c.signCount = next;
        c.lastUsedAt = at;
        return true;
      },
    },
    challenges: {
      async insert(row) { challenges.set(row.challenge, { ...row }); },
      async consume(challenge, purpose, binding, now) {
        const r = challenges.get(challenge);
        if (!r || r.usedAt || r.purpose !== purpose || r.binding !== binding || r.expiresAt.getTime() <= now.getTime()) return null;
        r.usedAt = now;
        return { ...r };
      },
      async purgeExpired(now) {
        let n = 0;
        for (const [k, r] of challenges) if (r.expiresAt.getTime() <= now.getTime()) { challenges.delete(k); n++; }
        return n;
      },
    },
  };
}
