import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { MfaConfig } from '../config/schema.ts';
import { epochOf } from '../provider/credentials-epoch.ts';
import { ACR_MFA, mfaRequiredFor } from '../sspr/mfa-policy.ts';
import type { AccountDirectory, DirectoryAccount } from '../sspr/ports.ts';
import type { InteractionDetails } from './interaction.ts';

type Session = Awaited<ReturnType<Provider['Session']['get']>>;

/**
 * Our own pages that act for a signed-in user (`/account/security…`, the register prompt, consent)
 * read the provider's session themselves, outside oidc-provider's `findAccount`: here they check it
 * the same way — the account exists, is enabled, and the session carries the account's current
 * credentials epoch (src/provider/credentials-epoch.ts). A session from before a reset, password
 * change or "sign out everywhere" counts as signed out, even when a racing request wrote it back.
 */
async function admitted(directory: AccountDirectory, session: Session | undefined, accountId: string | undefined): Promise<DirectoryAccount | null> {
  if (!session || !accountId || session.accountId !== accountId) return null;
  const account = await directory.findById(accountId);
  if (!account || account.disabled || epochOf(session) !== account.credentialsEpoch) return null;
  return account;
}

/** Per provider: whether a session read straight from the cookie gave the factors its account needs. */
const factorGates = new WeakMap<object, (session: Session, account: DirectoryAccount) => boolean>();

/**
 * A session that stopped after the password, at the second step, already carries the account: pages
 * that read the cookie themselves (`/account/security`) must not take it as signed in, or they would
 * be the way around the second factor. Interaction pages need no gate: oidc-provider's policy (the
 * `mfa` prompt before `register` and consent) decides which of them a session reaches.
 */
export function gateSessionsOf(provider: Provider, mfa: MfaConfig): void {
  factorGates.set(provider, (session, account) => !mfaRequiredFor(account, mfa) || session.acr === ACR_MFA);
}

/** This browser's provider session and its account, or null when it is not (or no longer) signed in. */
export async function currentSession(provider: Provider, directory: AccountDirectory, ctx: Context): Promise<{ session: Session; account: DirectoryAccount } | null> {
  const session = await provider.Session.get(ctx);
  const account = await admitted(directory, session, session.accountId);
  if (account && factorGates.get(provider)?.(session, account) === false) return null;
  return account ? { session, account } : null;
}

/** The session an interaction belongs to (register prompt, consent), or null when it no longer holds. */
export async function interactionSession(provider: Provider, directory: AccountDirectory, interaction: InteractionDetails): Promise<{ session: Session; account: DirectoryAccount } | null> {
  const ref = interaction.session;
  if (!ref?.uid || !ref.accountId) return null;
  const session = await provider.Session.findByUid(ref.uid);
  const account = await admitted(directory, session, ref.accountId);
  return account && session ? { session, account } : null;
}
