import { Op } from 'sequelize';
import { METHOD_TYPES, type MethodType, type MfaConfig, type SsprPolicyConfig } from '../config/schema.ts';
import { evaluateAccount, type AccountPolicy, type RegistrationDue } from '../sspr/policy.ts';
import type { Store } from '../store/index.ts';
import { definePasskeyModels } from '../store/passkey-repository.ts';
import { defineSsprModels } from '../store/sspr-models.ts';
import type { AuditEvent, AuditQuery } from './index.ts';

/**
 * The admin reports (INTERFACE.md "Admin CLI": `scope`, `report registration`, `report usage`), as
 * plain data in camelCase. No CLI code here: `/metrics` or an admin API can answer from the same
 * functions. Standing in the policy always comes from `evaluateAccount`, the function sign-in and the
 * flows use, so a report can never disagree with what a user is asked to do.
 */

const DAY_MS = 86_400_000;

/** One account's SSPR standing at `now`. */
export interface AccountStanding {
  accountId: string;
  login: string;
  admin: boolean;
  disabled: boolean;
  groups: string[];
  /** Distinct verified method types, in METHOD_TYPES order (also types the policy no longer allows). */
  methods: MethodType[];
  confirmedAt: Date | null;
  lastResetAt: Date | null;
  policy: AccountPolicy;
}

export interface RegistrationRow {
  login: string;
  admin: boolean;
  methods: MethodType[];
  capable: boolean;
  reconfirmDueAt: Date | null;
  lastResetAt: Date | null;
}

export interface ScopeReport {
  inScope: Array<{ login: string; registrationDue: RegistrationDue }>;
  outOfScope: string[];
  /** Who signs in with a second factor, and which of them cannot yet (sent to registration first). */
  mfa: { required: string[]; cannotSatisfy: string[] };
}

export type MethodCounts = Record<string, number>;

export interface UsageReport {
  days: number;
  since: Date;
  until: Date;
  registrations: { completed: number; byMethod: MethodCounts };
  resets: { completed: number; failed: number; byMethod: MethodCounts };
  blocks: number;
}

/** What the usage report needs of the audit log (AuditLog satisfies it). */
export interface AuditReader {
  query(q: AuditQuery): Promise<AuditEvent[]>;
}

interface SsprFacts { confirmedAt: Date | null; lastResetAt: Date | null }

/**
 * Per-account SSPR facts, read in bulk. The one place that knows where they live (`sspr_profiles`,
 * written by the method repository), so a move only changes this function. `confirmed_at` lives only
 * there (migration 0009 moved the legacy account column's dates in); the last reset falls back to the
 * audit trail, for resets made before `last_reset_at` was written.
 */
async function loadSsprFacts(store: Store): Promise<Map<string, SsprFacts>> {
  const { SsprProfile } = defineSsprModels(store.sequelize);
  const { Account, AuditEvent } = store.models;
  const [profiles, accounts, resets] = await Promise.all([
    SsprProfile.findAll(),
    Account.findAll({ attributes: ['id'] }),
    AuditEvent.findAll({
      attributes: ['targetAccountId', 'time'],
      where: { activity: 'sspr.reset.completed', result: 'success', targetAccountId: { [Op.ne]: null } },
    }),
  ]);
  const later = (a: Date | null, b: Date | null) => (a && (!b || a.getTime() >= b.getTime()) ? a : b);
  const facts = new Map<string, SsprFacts>();
  for (const a of accounts) facts.set(a.id, { confirmedAt: null, lastResetAt: null });
  for (const e of resets) {
    const f = facts.get(e.targetAccountId as string);
    if (f) f.lastResetAt = later(e.time, f.lastResetAt);
  }
  for (const p of profiles) {
    const f = facts.get(p.accountId);
    if (!f) continue;
    f.confirmedAt = p.confirmedAt;
    f.lastResetAt = later(p.lastResetAt, f.lastResetAt);
  }
  return facts;
}

/** Every account with its standing in `policy` at `now`, ordered by login. A handful of queries in all. */
export async function loadStandings({ store, policy, mfa, now }: { store: Store; policy: SsprPolicyConfig; mfa?: MfaConfig; now: Date }): Promise<AccountStanding[]> {
  const { Account, Group, Membership, RecoveryMethod } = store.models;
  const [accounts, groups, memberships, methods, facts, passkeys] = await Promise.all([
    Account.findAll({ order: [['login', 'ASC']] }),
    Group.findAll(),
    Membership.findAll(),
    RecoveryMethod.findAll({ where: { verifiedAt: { [Op.ne]: null } }, attributes: ['accountId', 'type', 'verifiedAt'] }),
    loadSsprFacts(store),
    definePasskeyModels(store.sequelize).Passkey.findAll({ attributes: ['accountId', 'createdAt'] }),
  ]);
  const groupName = new Map(groups.map((g) => [g.id, g.name]));
  const groupsOf = new Map<string, string[]>();
  for (const m of memberships) {
    const name = groupName.get(m.groupId);
    if (name !== undefined) groupsOf.set(m.accountId, [...(groupsOf.get(m.accountId) ?? []), name]);
  }
  const known = new Set<string>(METHOD_TYPES);
  const methodsOf = new Map<string, Array<{ type: MethodType; verifiedAt: Date | null }>>();
  for (const m of methods) {
    // A type this version does not know (a later one wrote it) counts for nothing.
    if (!known.has(m.type)) continue;
    methodsOf.set(m.accountId, [...(methodsOf.get(m.accountId) ?? []), { type: m.type as MethodType, verifiedAt: m.verifiedAt }]);
  }
  // Passkeys live in their own table: each counts as the type `passkey`.
  for (const p of passkeys) methodsOf.set(p.accountId, [...(methodsOf.get(p.accountId) ?? []), { type: 'passkey', verifiedAt: p.createdAt }]);

  return accounts.map((a) => {
    const mine = methodsOf.get(a.id) ?? [];
    const f = facts.get(a.id) ?? { confirmedAt: null, lastResetAt: null };
    const accountGroups = (groupsOf.get(a.id) ?? []).sort((x, y) => x.localeCompare(y));
    const result = evaluateAccount({
      account: {
        id: a.id,
        login: a.login,
        email: a.email,
        phone: a.phone,
        name: a.name,
        isAdmin: a.isAdmin,
        disabled: a.disabled,
        groups: accountGroups,
        language: a.language,
        passwordChangedAt: a.passwordChangedAt,
        credentialsEpoch: a.credentialsEpoch,
      },
      methods: mine,
      confirmedAt: f.confirmedAt,
      policy,
      mfa,
      now,
    });
    return {
      accountId: a.id,
      login: a.login,
      admin: a.isAdmin,
      disabled: a.disabled,
      groups: accountGroups,
      methods: METHOD_TYPES.filter((type) => mine.some((m) => m.type === type)),
      confirmedAt: f.confirmedAt,
      lastResetAt: f.lastResetAt,
      policy: result,
    };
  });
}

/** `report registration`: one row per user in scope. */
export function registrationReport(standings: readonly AccountStanding[]): RegistrationRow[] {
  return standings
    .filter((s) => s.policy.inScope)
    .map((s) => ({
      login: s.login,
      admin: s.admin,
      methods: s.methods,
      capable: s.policy.capable,
      reconfirmDueAt: s.policy.reconfirmDueAt,
      lastResetAt: s.lastResetAt,
    }));
}

/** `scope`: the dry run of the policy. */
export function scopeReport(standings: readonly AccountStanding[]): ScopeReport {
  return {
    inScope: standings.filter((s) => s.policy.inScope).map((s) => ({ login: s.login, registrationDue: s.policy.registrationDue })),
    outOfScope: standings.filter((s) => !s.policy.inScope).map((s) => s.login),
    mfa: {
      required: standings.filter((s) => s.policy.mfaRequired).map((s) => s.login),
      cannotSatisfy: standings.filter((s) => s.policy.mfaRequired && s.policy.mfaTypes.length === 0).map((s) => s.login),
    },
  };
}

function emptyCounts(): MethodCounts {
  return Object.fromEntries(METHOD_TYPES.map((m) => [m, 0]));
}

/** The method types an event names: `details.method` (one) or `details.methods` (a list). */
function methodsOfEvent(e: AuditEvent): string[] {
  const d = e.details ?? {};
  const list = Array.isArray(d.methods) ? d.methods : typeof d.method === 'string' ? [d.method] : [];
  // A reset proven by two codes of one type still counts that type once.
  return [...new Set(list.filter((m): m is string => typeof m === 'string'))];
}

/**
 * `report usage`: what Entra's "usage & insights" shows, from the audit trail of the last `days`
 * days. Only successful registration steps and completed resets count by method; a failed code is a
 * failure of the reset, not a use of the method. Retention bounds how far back this can see.
 */
export async function usageReport({ audit, now, days }: { audit: AuditReader; now: Date; days: number }): Promise<UsageReport> {
  const since = new Date(now.getTime() - days * DAY_MS);
  // Unbounded: the default query limit would silently drop events and undercount.
  const window = { since, until: new Date(now.getTime() + 1), limit: Number.MAX_SAFE_INTEGER };
  const [registered, verified, reset, failed, blocked] = await Promise.all([
    audit.query({ ...window, activity: 'sspr.registration.completed', result: 'success' }),
    audit.query({ ...window, activity: 'sspr.registration.method_verified', result: 'success' }),
    audit.query({ ...window, activity: 'sspr.reset.completed', result: 'success' }),
    audit.query({ ...window, activity: 'sspr.reset.failed' }),
    audit.query({ ...window, activity: 'sspr.reset.blocked' }),
  ]);
  const tally = (events: AuditEvent[]) => {
    const counts = emptyCounts();
    for (const e of events) for (const m of methodsOfEvent(e)) counts[m] = (counts[m] ?? 0) + 1;
    return counts;
  };
  return {
    days,
    since,
    until: now,
    registrations: { completed: registered.length, byMethod: tally(verified) },
    resets: { completed: reset.length, failed: failed.length, byMethod: tally(reset) },
    blocks: blocked.length,
  };
}
