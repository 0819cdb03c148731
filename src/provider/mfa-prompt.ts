import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import type { DomainDeps } from '../sspr/context.ts';
import type { SecondFactor } from '../sspr/flows/second-factor.ts';
import { ACR_MFA, ACR_PASSWORD, combinedAmr, mfaEligibleTypes, mfaRequiredFor } from '../sspr/mfa-policy.ts';
import type { RememberBrowser } from './mfa-remember.ts';
import { accountSharedWithPrompt } from './registration-prompt.ts';

/** Why the second step is asked: the account's policy, or the app (acr_values, an essential acr). */
export type SecondFactorReason = 'mfa_required' | 'acr_requested';

interface Need {
  reason: SecondFactorReason | null;
  /** The account has no usable second factor (the page then offers none, only a way out). */
  noMethod: boolean;
}

/** The MFA level as the app asked for it: `essential` (claims) or a voluntary `acr_values`. */
export function requestedAcr(ctx: KoaContextWithOIDC): 'essential' | 'voluntary' | null {
  const claim = ctx.oidc.claims?.id_token?.acr as { essential?: boolean; value?: string; values?: string[] } | undefined;
  if (claim?.essential && (claim.value === ACR_MFA || (Array.isArray(claim.values) && claim.values.includes(ACR_MFA)))) return 'essential';
  const values = typeof ctx.oidc.params?.acr_values === 'string' ? ctx.oidc.params.acr_values.split(' ') : [];
  // "pwd mfa" leaves the choice to us: only an app that names the MFA level alone steps up.
  if (values.includes(ACR_MFA) && !values.includes(ACR_PASSWORD)) return 'voluntary';
  return null;
}

/** A request that wants a fresh sign-in: a remembered browser does not stand in for the second factor. */
function freshSignInRequested(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.params?.max_age !== undefined || ctx.oidc.prompts.has('login');
}

/**
 * The `mfa` prompt: after login, before registration and consent. oidc-provider runs its checks on
 * every authorization request and every resume, so a session signed in with the password alone is
 * caught wherever it goes — a posted later step or a resumed, parked interaction meets the same
 * check. Not requestable: an app asks for the level with `acr_values` or an essential `acr` claim.
 *
 * Checks:
 * - `mfa_required`: `mfa.required_for` covers the account (administrators always, unless none);
 * - `acr_requested`: the app asked for the MFA level ({@link ACR_MFA}).
 * Satisfied by a session whose `acr` is the MFA level (the second step finishes the prompt with a
 * login result of that level, keeping the password's `ts`, so `max_age` still counts from the
 * password), or by a remembered browser (mfa-remember.ts), which lifts the session in place.
 *
 * An account that must use two factors but has no eligible method registered is left to the
 * `register` prompt that follows (its `missing_mfa_method` check), and comes back here after it.
 *
 * Cost: with `required_for: none` and no acr asked for, the checks read nothing (no SQL).
 */
export function secondFactorPrompt(sspr: DomainDeps, secondFactor: SecondFactor, remember: RememberBrowser): interactionPolicy.Prompt {
  const { Prompt, Check } = interactionPolicy;
  const perRequest = new WeakMap<KoaContextWithOIDC, Promise<Need>>();
  const none: Need = { reason: null, noMethod: false };

  async function evaluate(ctx: KoaContextWithOIDC): Promise<Need> {
    const session = ctx.oidc.session;
    const accountId = session?.accountId;
    if (!accountId) return none; // the login prompt comes first
    const asked = requestedAcr(ctx);
    if (sspr.config.mfa.required_for === 'none' && !asked) return none;
    if (session.acr === ACR_MFA) return none;
    const shared = accountSharedWithPrompt(ctx);
    const account = shared?.id === accountId ? shared : await sspr.directory.findById(accountId);
    if (!account || account.disabled) return none;
    const required = mfaRequiredFor(account, sspr.config.mfa);
    if (!required && !asked) return none;
    if (!freshSignInRequested(ctx)) {
      const kept = remember.read(ctx, account);
      if (kept) {
        // This browser gave a second factor for this account under its current credentials epoch.
        session.amr = combinedAmr(session.amr, kept.amr.length ? kept.amr : ['otp']);
        session.acr = ACR_MFA;
        return none;
      }
    }
    const stored = await sspr.methodRepo.listVerified(accountId);
    const usable = (await secondFactor.options(accountId, stored)).length > 0;
    if (!usable) {
      // Registration can fix it: the register prompt after this one sends the user there first.
      if (required && mfaEligibleTypes(stored, sspr.config.mfa).length === 0) return none;
      // A voluntary acr_values is a wish: the ID token then says what was done (the password level).
      if (!required && asked === 'voluntary') return none;
    }
    return { reason: required ? 'mfa_required' : 'acr_requested', noMethod: !usable };
  }

  function needOf(ctx: KoaContextWithOIDC): Promise<Need> {
    let p = perRequest.get(ctx);
    if (!p) {
      p = evaluate(ctx);
      perRequest.set(ctx, p);
    }
    return p;
  }

  return new Prompt(
    { name: 'mfa', requestable: false },
    async (ctx: KoaContextWithOIDC) => {
      const need = await needOf(ctx);
      return need.reason ? { no_method: need.noMethod } : {};
    },
    new Check('mfa_required', 'a second factor is required', async (ctx: KoaContextWithOIDC) =>
      (await needOf(ctx)).reason === 'mfa_required' ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
    new Check('acr_requested', 'the requested authentication level needs a second factor', async (ctx: KoaContextWithOIDC) =>
      (await needOf(ctx)).reason === 'acr_requested' ? Check.REQUEST_PROMPT : Check.NO_NEED_TO_PROMPT),
  );
}
