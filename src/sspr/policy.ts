import { METHOD_TYPES, type MethodType, type MfaConfig, type SsprPolicyConfig } from '../config/schema.ts';
import { mfaEligibleTypes, mfaRequiredFor } from './mfa-policy.ts';
import type { DirectoryAccount } from './ports.ts';

/**
 * Who SSPR applies to and what it asks of them (INTERFACE.md "Policy rules"). Pure: the caller loads
 * the account and its methods and passes `now`, so sign-in, the registration flow, the reset flow,
 * `user show`, `scope` and the reports all answer from the same function.
 */

export type RegistrationDue = false | 'no_methods' | 'too_few_methods' | 'no_mfa_method' | 'reconfirm_due';

export interface MethodFact {
  type: MethodType;
  verifiedAt: Date | null;
}

export interface AccountPolicyInput {
  account: DirectoryAccount;
  methods: readonly MethodFact[];
  /** Last time the user registered or confirmed their methods ("these are still right"). */
  confirmedAt: Date | null;
  policy: SsprPolicyConfig;
  /** The sign-in's second-factor policy; left out, nobody needs MFA (hosts without it). */
  mfa?: MfaConfig;
  now: Date;
}

export interface AccountPolicy {
  inScope: boolean;
  methodsRequired: 1 | 2;
  allowedMethods: MethodType[];
  /** Verified methods that count: distinct types, only allowed ones. */
  verifiedTypes: MethodType[];
  /** Interrupt sign-in with the registration prompt. */
  registrationRequired: boolean;
  registrationDue: RegistrationDue;
  reconfirmDueAt: Date | null;
  /** Enough verified distinct allowed types to reset a password. */
  capable: boolean;
  /** May answer "Not now" to the registration prompt (never administrators). */
  canSkip: boolean;
  /** Signs in with a second factor (`mfa.required_for`). */
  mfaRequired: boolean;
  /** Verified methods that may serve as the second factor (only when `mfaRequired`). */
  mfaTypes: string[];
}

const DAY_MS = 86_400_000;

export function isInScope(account: DirectoryAccount, policy: SsprPolicyConfig): boolean {
  if (account.disabled) return false;
  // Administrators are the accounts an attacker wants most: always in scope, whatever the file says.
  if (account.isAdmin) return true;
  switch (policy.enabled_for) {
    case 'none': return false;
    case 'all': return true;
    case 'selected': {
      const groups = new Set(policy.groups);
      return account.groups.some((g) => groups.has(g));
    }
  }
}

export function evaluateAccount({ account, methods, confirmedAt, policy, mfa, now }: AccountPolicyInput): AccountPolicy {
  const admin = account.isAdmin;
  const inScope = isInScope(account, policy);
  const mfaRequired = mfa ? mfaRequiredFor(account, mfa) : false;
  const mfaTypes = mfaRequired && mfa ? mfaEligibleTypes(methods, mfa) : [];
  // Admins get the fixed two-gate policy and may use every method type, as in Entra. An account that
  // signs in with two factors resets with two as well: a reset must never be the easier way in.
  const methodsRequired: 1 | 2 = admin || mfaRequired ? 2 : policy.methods_required;
  const mfaRegistrable = mfaRequired && mfa ? METHOD_TYPES.filter((m) => (mfa.methods as readonly string[]).includes(m)) : [];
  const allowedMethods: MethodType[] = admin
    ? [...METHOD_TYPES]
    : METHOD_TYPES.filter((m) => policy.methods.includes(m) || mfaRegistrable.includes(m));
  const allowed = new Set(allowedMethods);
  // "Two methods" means two different types: two email addresses are still one way in.
  const verifiedTypes = METHOD_TYPES.filter((type) =>
    allowed.has(type) && methods.some((m) => m.type === type && m.verifiedAt !== null));
  const capable = inScope && verifiedTypes.length >= methodsRequired;
  const prompts = admin || policy.require_registration_at_sign_in;

  // Methods verified without a recorded confirmation (added by another path) count from their
  // latest verification, so such an account still comes up for reconfirmation.
  const latestVerified = methods
    .filter((m) => allowed.has(m.type) && m.verifiedAt !== null)
    .reduce<Date | null>((a, m) => (a && a.getTime() >= (m.verifiedAt as Date).getTime() ? a : m.verifiedAt), null);
  const confirmedBase = confirmedAt ?? latestVerified;
  const reconfirmDueAt = inScope && prompts && policy.reconfirm_after_days > 0 && capable && confirmedBase
    ? new Date(confirmedBase.getTime() + policy.reconfirm_after_days * DAY_MS)
    : null;

  let registrationDue: RegistrationDue = false;
  if (inScope) {
    if (verifiedTypes.length === 0) registrationDue = 'no_methods';
    else if (verifiedTypes.length < methodsRequired) registrationDue = 'too_few_methods';
    else if (mfaRequired && mfaTypes.length === 0) registrationDue = 'no_mfa_method';
    else if (reconfirmDueAt && now.getTime() >= reconfirmDueAt.getTime()) registrationDue = 'reconfirm_due';
  } else if (mfaRequired && mfaTypes.length === 0) {
    registrationDue = 'no_mfa_method';
  }
  // Nobody signs in with one factor where two are required: registration comes first, whatever
  // `require_registration_at_sign_in` and the SSPR scope say, and it cannot be skipped.
  const mfaMissing = registrationDue === 'no_mfa_method' || (mfaRequired && mfaTypes.length === 0);
  const registrationRequired = (inScope && prompts && registrationDue !== false) || mfaMissing;

  return {
    inScope,
    methodsRequired,
    allowedMethods,
    verifiedTypes,
    registrationRequired,
    registrationDue,
    reconfirmDueAt,
    capable,
    canSkip: registrationRequired && policy.allow_skip && !admin && !mfaMissing,
    mfaRequired,
    mfaTypes,
  };
}
