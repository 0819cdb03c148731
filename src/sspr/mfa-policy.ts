import type { MfaConfig } from '../config/schema.ts';
import type { DirectoryAccount } from './ports.ts';

/**
 * Who needs a second factor at sign-in, and what counts as one (INTERFACE.md `mfa`). Pure: the
 * register prompt, the second-factor prompt, the reset's policy, `config check` and `scope` all
 * answer from these functions.
 */

/**
 * The authentication levels oidc-sspr issues as `acr` (README "Authentication levels"). The order is
 * the order in discovery's `acr_values_supported`: the password alone, then a second factor.
 */
export const ACR_PASSWORD = 'urn:oidc-sspr:acr:pwd';
export const ACR_MFA = 'urn:oidc-sspr:acr:mfa';
export const ACR_VALUES = [ACR_PASSWORD, ACR_MFA] as const;

/** Administrators always, once MFA is on at all; then the configured audience. */
export function mfaRequiredFor(account: Pick<DirectoryAccount, 'isAdmin' | 'groups' | 'disabled'>, mfa: MfaConfig): boolean {
  if (account.disabled || mfa.required_for === 'none') return false;
  if (account.isAdmin) return true;
  switch (mfa.required_for) {
    case 'admins': return false;
    case 'all': return true;
    case 'selected': {
      const groups = new Set(mfa.groups);
      return account.groups.some((g) => groups.has(g));
    }
  }
}

/** The account's verified method types that may serve as a second factor, in `mfa.methods` order. */
export function mfaEligibleTypes(methods: readonly { type: string; verifiedAt: Date | null }[], mfa: MfaConfig): string[] {
  const verified = new Set(methods.filter((m) => m.verifiedAt !== null).map((m) => m.type));
  return mfa.methods.filter((id) => verified.has(id));
}

/** RFC 8176 `amr` of a sign-in: the password, then the second factor's own values, then `mfa`. */
export function combinedAmr(first: readonly string[] | undefined, second: readonly string[]): string[] {
  const all = [...(first ?? []), ...second];
  const distinct = [...new Set(all.filter((v) => v !== 'mfa'))];
  // RFC 8176 "mfa": more than one factor. A passkey with user verification is two by itself.
  const factors = new Set(distinct.map((v) => (v === 'pwd' ? 'know' : v === 'user' || v === 'pin' ? 'know' : 'have')));
  return factors.size > 1 || distinct.includes('user') ? [...distinct, 'mfa'] : distinct;
}
