import { Op } from 'sequelize';
import type { AccountRow, Store, Transaction } from '../store/index.ts';
import { defineSsprModels } from '../store/sspr-models.ts';
import { remainingCodes } from '../sspr/methods/recovery-codes.ts';
import { definePasskeyModels } from '../store/passkey-repository.ts';

/** What `user show` / `user list` print: an account with its groups, methods and confirmation. */
export interface MethodView {
  id: string;
  type: string;
  /** Unmasked address or number; null for an authenticator app. Mask before showing. */
  target: string | null;
  verifiedAt: Date | null;
  /** Recovery codes only: how many are left. */
  remaining?: number;
}

export interface UserView {
  id: string;
  login: string;
  email: string | null;
  emailVerified: boolean;
  phone: string | null;
  phoneVerified: boolean;
  name: string | null;
  admin: boolean;
  disabled: boolean;
  /** Group names, sorted. */
  groups: string[];
  methods: MethodView[];
  /** When the user last confirmed their methods (`sspr_profiles.confirmed_at`, the one place that keeps it). */
  confirmedAt: Date | null;
  passwordChangedAt: Date | null;
  createdAt: Date | null;
}

export interface GroupView {
  id: string;
  name: string;
  members: number;
}

/** Builds views for the given accounts with four queries in all. */
export async function loadUserViews(store: Store, accounts: AccountRow[], t?: Transaction): Promise<UserView[]> {
  const { Group, Membership, RecoveryMethod } = store.models;
  if (accounts.length === 0) return [];
  const ids = accounts.map((a) => a.id);
  const restrict = accounts.length <= 500 ? { accountId: { [Op.in]: ids } } : {};
  const [memberships, groups, methods, profiles, passkeys] = await Promise.all([
    Membership.findAll({ where: restrict, transaction: t }),
    Group.findAll({ transaction: t }),
    RecoveryMethod.findAll({ where: restrict, order: [['createdAt', 'ASC'], ['id', 'ASC']], transaction: t }),
    defineSsprModels(store.sequelize).SsprProfile.findAll({ where: restrict, transaction: t }),
    definePasskeyModels(store.sequelize).Passkey.findAll({ where: restrict, order: [['createdAt', 'ASC'], ['id', 'ASC']], transaction: t }),
  ]);
  // SSPR keeps the reconfirmation date in its own profile table (it works for any host's accounts).
  const confirmedOf = new Map(profiles.map((p) => [p.accountId, p.confirmedAt]));
  const groupName = new Map(groups.map((g) => [g.id, g.name]));
  const groupsOf = new Map<string, string[]>();
  for (const m of memberships) {
    const name = groupName.get(m.groupId);
    if (name === undefined) continue;
    const list = groupsOf.get(m.accountId) ?? [];
    list.push(name);
    groupsOf.set(m.accountId, list);
  }
  const methodsOf = new Map<string, MethodView[]>();
  for (const m of methods) {
    const list = methodsOf.get(m.accountId) ?? [];
    const remaining = m.type === 'recovery_codes' ? { remaining: remainingCodes(m.secretEnc) } : {};
    list.push({ id: m.id, type: m.type, target: m.target, ...remaining, verifiedAt: m.verifiedAt });
    methodsOf.set(m.accountId, list);
  }
  // Passkeys have their own table; each is a method of type `passkey`, its name standing for a target.
  for (const p of passkeys) methodsOf.set(p.accountId, [...(methodsOf.get(p.accountId) ?? []), { id: p.id, type: 'passkey', target: p.name, verifiedAt: p.createdAt }]);
  return accounts.map((a) => ({
    id: a.id,
    login: a.login,
    email: a.email,
    emailVerified: a.emailVerified,
    phone: a.phone,
    phoneVerified: a.phoneVerified,
    name: a.name,
    admin: a.isAdmin,
    disabled: a.disabled,
    groups: (groupsOf.get(a.id) ?? []).sort((x, y) => x.localeCompare(y)),
    methods: methodsOf.get(a.id) ?? [],
    confirmedAt: confirmedOf.get(a.id) ?? null,
    passwordChangedAt: a.passwordChangedAt,
    createdAt: a.createdAt ?? null,
  }));
}
