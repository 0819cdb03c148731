import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { AuditSink } from '../../src/audit/index.ts';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.ts';
import type { DeliveryPort } from '../../src/delivery/index.ts';
import { createCodeService } from '../../src/sspr/codes.ts';
import type { DomainDeps } from '../../src/sspr/context.ts';
import { createCodeHasher, createSecretBox } from '../../src/sspr/crypto.ts';
import { createMethods } from '../../src/sspr/methods/index.ts';
import { createPasswordPolicy } from '../../src/sspr/password-policy.ts';
import type { AccountDirectory, DirectoryAccount } from '../../src/sspr/ports.ts';
import { createThrottle } from '../../src/sspr/throttle.ts';
import { TestClock } from './clock.ts';
import { memoryPasskeys } from './memory-passkeys.ts';
import {
  emptyState, memoryCodeStore, memoryFlowRepository, memoryMethodRepository, memoryThrottleStore, memoryUnitOfWork,
  type MemoryAccount, type MemoryState,
} from './memory-ports.ts';
import { TEST_SECRETS } from './server.ts';

/**
 * SSPR's domain on in-memory ports and a test clock: no database, no HTTP, no worker. What the
 * flows send lands in `state.outbox` (rendered parameters, so a test reads the code itself), what
 * they audit in `state.audit`.
 */
export interface MemorySspr {
  deps: DomainDeps;
  state: MemoryState;
  clock: TestClock;
  config: Config;
  seedUser(user: { login: string; password?: string; email?: string | null; phone?: string | null; admin?: boolean; groups?: string[]; disabled?: boolean }): MemoryAccount;
  /** The code in the newest message to `to`. */
  lastCode(to: string): string;
  /** Messages to `to`, oldest first, by template. */
  templatesTo(to: string): string[];
}

function memoryDirectory(state: MemoryState, clock: TestClock): AccountDirectory {
  const plain = (a: MemoryAccount | undefined): DirectoryAccount | null => {
    if (!a) return null;
    const { password: _, verified: __, ...account } = structuredClone(a);
    return account;
  };
  return {
    async findById(id) { return plain(state.accounts.get(id)); },
    async findByIdentifier(identifier) {
      const wanted = identifier.trim().toLowerCase();
      return plain([...state.accounts.values()].find((a) => a.login === wanted || a.email?.toLowerCase() === wanted));
    },
    async listAdmins() { return [...state.accounts.values()].filter((a) => a.isAdmin).map((a) => plain(a) as DirectoryAccount); },
    async verifyPassword(id, password) {
      const a = state.accounts.get(id);
      return !!a && !a.disabled && a.password === password;
    },
    async setPassword(id, password) {
      const a = state.accounts.get(id);
      if (a) state.accounts.set(id, { ...a, password, passwordChangedAt: clock.now() });
    },
    async revokeEverything(id) {
      const a = state.accounts.get(id);
      if (a) state.accounts.set(id, { ...a, credentialsEpoch: a.credentialsEpoch + 1 });
    },
    async markContactVerified(id, kind, value) {
      const a = state.accounts.get(id);
      const profile = kind === 'email' ? a?.email?.toLowerCase() : a?.phone;
      if (a && profile === (kind === 'email' ? value.toLowerCase() : value)) state.accounts.set(id, { ...a, verified: [...a.verified, `${kind}:${value}`] });
    },
  };
}

function memoryAudit(state: MemoryState, clock: TestClock): AuditSink {
  return { async record(event) { state.audit.push({ ...structuredClone(event), time: clock.now() }); } };
}

function memoryDelivery(state: MemoryState): DeliveryPort {
  return {
    async enqueueMessage(input) { state.outbox.push(structuredClone(input)); return randomUUID(); },
    async enqueue(input) { state.outbox.push(structuredClone(input)); return randomUUID(); },
  };
}

export async function createMemorySspr(sspr: ConfigInput['sspr'] = {}, start = new Date('2026-03-01T10:00:00Z')): Promise<MemorySspr> {
  const config = configSchema.parse({ issuer: 'http://127.0.0.1:1', database: 'memory:', demo: false, secrets: TEST_SECRETS, sspr });
  const clock = new TestClock(start);
  const state = emptyState();
  const secretBox = createSecretBox(config.secrets.encryption_keys);
  const methodRepo = memoryMethodRepository(state, clock);
  const delivery = memoryDelivery(state);
  const codes = createCodeService({ store: memoryCodeStore(state), clock, hasher: createCodeHasher(config.secrets.encryption_keys), ttlMinutes: config.sspr.code_ttl_minutes });
  const deps: DomainDeps = {
    config,
    store: memoryUnitOfWork(state),
    flows: memoryFlowRepository(state),
    clock,
    log: pino({ level: 'silent' }),
    directory: memoryDirectory(state, clock),
    audit: memoryAudit(state, clock),
    delivery,
    codes,
    throttle: createThrottle({ store: memoryThrottleStore(state), clock }),
    secretBox,
    methods: createMethods({ config, codes, delivery, secretBox, clock, methodRepo, passkeys: memoryPasskeys(memoryAudit(state, clock)) }),
    methodRepo,
    passwordPolicy: await createPasswordPolicy(config.password_policy),
  };
  const messagesTo = (to: string) => state.outbox.filter((m) => m.to === to);
  return {
    deps,
    state,
    clock,
    config,
    seedUser(user) {
      const account: MemoryAccount = {
        id: randomUUID(),
        login: user.login,
        email: user.email === undefined ? `${user.login}@example.org` : user.email,
        phone: user.phone ?? null,
        name: user.login,
        isAdmin: user.admin ?? false,
        disabled: user.disabled ?? false,
        groups: user.groups ?? [],
        language: null,
        passwordChangedAt: clock.now(),
        credentialsEpoch: 0,
        password: user.password ?? 'correct horse battery staple 42',
        verified: [],
      };
      state.accounts.set(account.id, account);
      return structuredClone(account);
    },
    lastCode(to) {
      const last = messagesTo(to).at(-1);
      const code = last && 'params' in last && 'code' in last.params ? last.params.code : undefined;
      if (typeof code !== 'string') throw new Error(`no code sent to ${to}`);
      return code;
    },
    templatesTo(to) {
      return messagesTo(to).map((m) => ('template' in m ? m.template : 'raw'));
    },
  };
}
