import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { DomainDeps } from '../sspr/context.ts';
import { evaluateAccount, isInScope, type AccountPolicy } from '../sspr/policy.ts';
import { mfaRequiredFor } from '../sspr/mfa-policy.ts';
import type { DirectoryAccount } from '../sspr/ports.ts';

/** Interaction result our registration pages finish with (`finishPrompt(..., { register })`). */
export interface RegisterResult {
  completed?: boolean;
  skipped?: boolean;
}

/** Accounts the provider's `findAccount` already read for a request (keyed by its Koa context). */
const loadedForRequest = new WeakMap<object, DirectoryAccount>();

/**
 * For a `findAccount` that has just read the account: oidc-provider calls it (loadAccount) before the
 * interaction checks of the same request, so the register prompt uses this instead of reading the
 * account a second time. Without it the prompt asks the directory.
 */
export function shareAccountWithPrompt(ctx: object, account: DirectoryAccount): void {
  loadedForRequest.set(ctx, account);
}

/** The account `findAccount` read for this request, if any (the second-factor prompt reads it too). */
export function accountSharedWithPrompt(ctx: object): DirectoryAccount | undefined {
  return loadedForRequest.get(ctx);
}

/**
 * The `register` prompt: after login, before consent. oidc-provider runs its checks on every
 * authorization request and every resume, so a user who already has a session is caught as well as
 * a fresh password login. Not requestable: a client cannot ask for it, or avoid it (`prompt=none`
 * gets `interaction_required`).
 *
 * Checks:
 * - `missing_recovery_methods`: in scope, registration at sign-in on (always for admins), and no or
 *   too few verified method types;
 * - `missing_mfa_method`: the account signs in with a second factor (`mfa.required_for`) and has no
 *   method that serves as one; the second-factor prompt (src/provider/mfa-prompt.ts) follows;
 * - `reconfirm_due`: enough methods, but `confirmed_at + reconfirm_after_days` has passed.
 * A user who chose "Not now" (policy.canSkip) in this interaction is let through; the next sign-in
 * asks again.
 */
export function registrationPrompt(sspr: DomainDeps): interactionPolicy.Prompt {
  const { Prompt, Check } = interactionPolicy;
  // Both checks (and the details) run for one request concurrently: evaluate once per request.
  const perRequest = new WeakMap<KoaContextWithOIDC, Promise<AccountPolicy | null>>();

  /**
   * Null when the prompt cannot apply: no session, no account, or an account SSPR does not prompt
   * (out of scope, or registration at sign-in off and not an admin). That is decided from the
   * account alone, so most sign-ins never load recovery methods or the confirmation date.
   */
  async function evaluate(ctx: KoaContextWithOIDC): Promise<AccountPolicy | null> {
    const accountId = ctx.oidc.session?.accountId;
    if (!accountId) return null; // the login prompt comes first
    const shared = loadedForRequest.get(ctx);
    const account = shared?.id === accountId ? shared : await sspr.directory.findById(accountId);
    if (!account) return null;
    const policy = sspr.config.sspr;
    const mfa = sspr.config.mfa;
    // Who must sign in with two factors registers one first, whatever the SSPR scope says.
    const prompts = ((account.isAdmin || policy.require_registration_at_sign_in) && isInScope(account, policy)) || mfaRequiredFor(account, mfa);
    if (!prompts) return null;
    const [methods, confirmedAt] = await Promise.all([
      sspr.methodRepo.listVerified(accountId),
      sspr.methodRepo.confirmedAt(accountId),
    ]);
    return evaluateAccount({ account, methods, confirmedAt, policy, mfa, now: sspr.clock.now() });
  }

  function policyFor(ctx: KoaContextWithOIDC): Promise<AccountPolicy | null> {
    let p = perRequest.get(ctx);
    if (!p) {
      p = evaluate(ctx);
      perRequest.set(ctx, p);
    }
    return p;
  }

  async function due(ctx: KoaContextWithOIDC): Promise<AccountPolicy['registrationDue']> {
    const policy = await policyFor(ctx);
    if (!policy || !policy.registrationRequired || policy.registrationDue === false) return false;
    const result = ctx.oidc.result as { register?: RegisterResult } | undefined;
    if (result?.register?.skipped === true && policy.canSkip) return false;
    return policy.registrationDue;
  }

  return new Prompt(
    { name: 'register', requestable: false },
    async (ctx: KoaContextWithOIDC) => {
      const policy = await policyFor(ctx);
      return policy ? { registration_due: policy.registrationDue, methods_required: policy.methodsRequired } : {};
    },
    new Check('missing_recovery_methods', 'recovery methods must be registered', async (ctx: KoaContextWithOIDC) => {
      const d = await due(ctx);
      return d === 'no_methods' || d === 'too_few_methods' ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
    new Check('missing_mfa_method', 'a method that serves as a second factor must be registered', async (ctx: KoaContextWithOIDC) => {
      return (await due(ctx)) === 'no_mfa_method' ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
    new Check('reconfirm_due', 'recovery methods must be reconfirmed', async (ctx: KoaContextWithOIDC) => {
      return (await due(ctx)) === 'reconfirm_due' ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT;
    }),
  );
}
