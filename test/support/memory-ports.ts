import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../../src/audit/index.ts';
import type { Clock } from '../../src/clock.ts';
import type { EnqueueInput, MessageInput, Template } from '../../src/delivery/index.ts';
import type { StoredMethod } from '../../src/sspr/methods/types.ts';
import type {
  CodeRow, CodeStore, DirectoryAccount, FlowRepository, FlowRow, MethodRepository, ThrottleCounter, ThrottleStore, TransactionHandle, UnitOfWork,
} from '../../src/sspr/ports.ts';

/**
 * The storage ports of src/sspr/ports.ts in memory, so flow tests run without a database (and
 * without HTTP) in milliseconds. They live under test/ rather than src/: the package ships src, and
 * a test double there would be public API we must keep.
 *
 * They keep what the domain relies on: compare-and-set updates, the throttle hit's exact rules
 * (the CASE branches of src/store/throttle-store.ts, in the same order), codes consumed at most once,
 * and transactions that commit or roll back whole. Transactions run one at a time (as SQLite's
 * single writer does); a failed one restores the state as it was when it began. Writes outside any
 * transaction apply at once; while a transaction runs, a rollback would undo them too, which no
 * single-request test can tell apart.
 */

/** Everything the memory ports hold; one object, so a transaction can snapshot and restore it. */
export interface MemoryState {
  flows: Map<string, FlowRow & { seq: number }>;
  codes: CodeRow[];
  throttles: Map<string, ThrottleCounter>;
  methods: Map<string, StoredMethod>;
  profiles: Map<string, { confirmedAt: Date | null; lastResetAt: Date | null }>;
  /** The test doubles of the other ports keep their state here too, so it rolls back with the rest. */
  accounts: Map<string, MemoryAccount>;
  audit: (AuditInput & { time: Date })[];
  outbox: (MessageInput<Template> | EnqueueInput)[];
}

/** An account of the in-memory directory: the password in clear, as test data. */
export interface MemoryAccount extends DirectoryAccount {
  password: string;
  /** Profile contacts a method proved (`email:<address>`, `phone:<number>`). */
  verified: string[];
}

export function emptyState(): MemoryState {
  return { flows: new Map(), codes: [], throttles: new Map(), methods: new Map(), profiles: new Map(), accounts: new Map(), audit: [], outbox: [] };
}

/** The unit of work: serial transactions over one state, restored on failure; a nested one joins its outer one. */
export function memoryUnitOfWork(state: MemoryState): UnitOfWork {
  const inside = new AsyncLocalStorage<TransactionHandle>();
  let tail: Promise<unknown> = Promise.resolve();
  let n = 0;
  return {
    transaction<T>(fn: (t: TransactionHandle) => Promise<T>): Promise<T> {
      const outer = inside.getStore();
      if (outer) return fn(outer);
      const run = async () => {
        const before = structuredClone(state);
        try {
          return await inside.run({ transaction: ++n }, () => fn({ transaction: n }));
        } catch (err) {
          Object.assign(state, before);
          throw err;
        }
      };
      const result = tail.then(run, run);
      tail = result.catch(() => undefined);
      return result;
    },
  };
}

const copy = <T extends object>(row: T): T => structuredClone(row);

export function memoryFlowRepository(state: MemoryState): FlowRepository {
  let seq = 0;
  const plain = ({ seq: _, ...row }: FlowRow & { seq: number }): FlowRow => copy(row);
  return {
    async find(kind, id) {
      const row = state.flows.get(id);
      return row && row.kind === kind ? plain(row) : null;
    },
    async findOpen(kind, { accountId, interactionUid, now }) {
      const open = [...state.flows.values()]
        .filter((r) => r.kind === kind && r.accountId === accountId && r.interactionUid === interactionUid && r.state !== 'done' && r.expiresAt.getTime() > now.getTime())
        .sort((a, b) => b.seq - a.seq);
      return open.length > 0 ? plain(open[0]) : null;
    },
    async insert(row) {
      if (state.flows.has(row.id)) return false;
      state.flows.set(row.id, { ...copy(row), seq: ++seq });
      return true;
    },
    async update(kind, id, expected, changes) {
      const row = state.flows.get(id);
      if (!row || row.kind !== kind || row.state !== expected.state) return false;
      if (expected.data !== undefined && row.data !== expected.data) return false;
      state.flows.set(id, { ...row, ...copy(changes) });
      return true;
    },
    async purgeExpired(kind, until) {
      let n = 0;
      for (const [id, row] of state.flows) {
        if (row.kind === kind && row.expiresAt.getTime() <= until.getTime()) {
          state.flows.delete(id);
          n++;
        }
      }
      return n;
    },
  };
}

export function memoryCodeStore(state: MemoryState): CodeStore {
  const byId = (id: string) => state.codes.find((c) => c.id === id);
  return {
    async replace(code) {
      for (const c of state.codes) if (c.flowId === code.flowId && c.channel === code.channel && c.usedAt === null) c.usedAt = code.createdAt;
      state.codes.push(copy(code));
    },
    async latestUnused(flowId, channel) {
      const unused = state.codes.filter((c) => c.flowId === flowId && c.channel === channel && c.usedAt === null);
      // The newest by creation time; of equal times, the one issued last.
      const latest = unused.reduce<CodeRow | null>((a, c) => (a && a.createdAt.getTime() > c.createdAt.getTime() ? a : c), null);
      return latest ? copy(latest) : null;
    },
    async countIssued(flowId, channel) {
      return state.codes.filter((c) => c.flowId === flowId && c.channel === channel).length;
    },
    async countAttempt(id, maxAttempts) {
      const c = byId(id);
      if (!c || c.usedAt !== null || c.attempts >= maxAttempts) return false;
      c.attempts++;
      return true;
    },
    async find(id) {
      const c = byId(id);
      return c ? copy(c) : null;
    },
    async consume(id, at) {
      const c = byId(id);
      if (!c || c.usedAt !== null) return false;
      c.usedAt = at;
      return true;
    },
    async isReplaced(flowId, channel, codeHash) {
      return state.codes.some((c) => c.flowId === flowId && c.channel === channel && c.codeHash === codeHash && c.usedAt !== null);
    },
    async purgeExpired(now) {
      const before = state.codes.length;
      state.codes = state.codes.filter((c) => c.expiresAt.getTime() > now.getTime());
      return before - state.codes.length;
    },
  };
}

/** The hit of src/store/throttle-store.ts, branch for branch: every value from the old row. */
export function memoryThrottleStore(state: MemoryState): ThrottleStore {
  const t = (d: Date) => d.getTime();
  const over = (row: ThrottleCounter, now: Date) => t(row.windowEndsAt) <= t(now) && (row.blockedUntil === null || t(row.blockedUntil) <= t(now));
  return {
    async hit(hits, now) {
      return hits.map((h) => {
        const old = state.throttles.get(h.key);
        let row: ThrottleCounter;
        if (!old) {
          row = { key: h.key, count: 1, windowEndsAt: h.windowEndsAt, blockedUntil: null, strikes: 0 };
        } else {
          const expired = t(old.windowEndsAt) <= t(now);
          const blocked = old.blockedUntil !== null && t(old.blockedUntil) > t(now);
          const afterBlock = old.blockedUntil !== null;
          const starts = old.count + 1 === h.blocksAt;
          row = {
            key: h.key,
            count: expired ? 1 : blocked ? old.count + 1 : afterBlock ? h.max : old.count + 1,
            windowEndsAt: expired ? h.windowEndsAt : blocked || afterBlock ? old.windowEndsAt : starts ? h.memoryEndsAt : old.windowEndsAt,
            blockedUntil: expired ? null : blocked ? old.blockedUntil : afterBlock ? null : starts ? h.blockEndsAt : old.blockedUntil,
            strikes: expired ? 0 : blocked || afterBlock ? old.strikes : starts ? old.strikes + 1 : old.strikes,
          };
        }
        state.throttles.set(h.key, row);
        return copy(row);
      });
    },
    async lengthenBlock(key, strikes, until, memoryEndsAt) {
      const row = state.throttles.get(key);
      if (row && row.strikes === strikes) state.throttles.set(key, { ...row, blockedUntil: until, windowEndsAt: memoryEndsAt });
    },
    async read(keys) {
      return keys.flatMap((k) => {
        const row = state.throttles.get(k);
        return row ? [copy(row)] : [];
      });
    },
    async refund(keys, now) {
      for (const k of keys) {
        const row = state.throttles.get(k);
        if (!row || t(row.windowEndsAt) <= t(now) || (row.blockedUntil !== null && t(row.blockedUntil) > t(now))) continue;
        state.throttles.set(k, { ...row, count: Math.max(row.count - 1, 0) });
      }
    },
    async remove(keys) {
      for (const k of keys) state.throttles.delete(k);
    },
    async removePrefix(prefix) {
      const gone = [...state.throttles.keys()].filter((k) => k.startsWith(prefix));
      for (const k of gone) state.throttles.delete(k);
      return gone.length;
    },
    async keysContaining(fragment) {
      return [...state.throttles.keys()].filter((k) => k.includes(fragment));
    },
    async purgeExpired(now) {
      const gone = [...state.throttles.values()].filter((row) => over(row, now));
      for (const row of gone) state.throttles.delete(row.key);
      return gone.length;
    },
  };
}

export function memoryMethodRepository(state: MemoryState, clock: Clock): MethodRepository {
  const profile = (accountId: string) => state.profiles.get(accountId) ?? { confirmedAt: null, lastResetAt: null };
  return {
    async listVerified(accountId) {
      return [...state.methods.values()]
        .filter((m) => m.accountId === accountId && m.verifiedAt !== null)
        .sort((a, b) => a.type.localeCompare(b.type) || (a.verifiedAt?.getTime() ?? 0) - (b.verifiedAt?.getTime() ?? 0))
        .map(copy);
    },
    async saveVerified(input) {
      // One method per type: registering a new number replaces the old one.
      for (const [id, m] of state.methods) if (m.accountId === input.accountId && m.type === input.type) state.methods.delete(id);
      const stored: StoredMethod = {
        id: randomUUID(),
        accountId: input.accountId,
        type: input.type,
        target: input.target ?? null,
        secretEnc: input.secretEnc ?? null,
        lastTimeStep: input.lastTimeStep ?? null,
        verifiedAt: clock.now(),
      };
      state.methods.set(stored.id, stored);
      return copy(stored);
    },
    async remove(accountId, methodId) {
      const m = state.methods.get(methodId);
      if (!m || m.accountId !== accountId) return null;
      state.methods.delete(methodId);
      return copy(m);
    },
    async advanceTimeStep(methodId, step) {
      const m = state.methods.get(methodId);
      if (!m || (m.lastTimeStep !== null && m.lastTimeStep >= step)) return false;
      m.lastTimeStep = step;
      return true;
    },
    async replaceSecret(methodId, expected, next) {
      const m = state.methods.get(methodId);
      if (!m || m.secretEnc !== expected) return false;
      m.secretEnc = next;
      return true;
    },
    async confirmedAt(accountId) {
      return profile(accountId).confirmedAt;
    },
    async setConfirmedAt(accountId, when) {
      state.profiles.set(accountId, { ...profile(accountId), confirmedAt: when });
    },
    async setLastResetAt(accountId, when) {
      state.profiles.set(accountId, { ...profile(accountId), lastResetAt: when });
    },
  };
}
