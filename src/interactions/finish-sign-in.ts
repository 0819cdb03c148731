import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { LoginResultEpoch } from '../provider/credentials-epoch.ts';
import type { AccountDirectory, DirectoryAccount } from '../sspr/ports.ts';
import { finishPrompt } from './interaction.ts';
import { ACR_MFA, ACR_PASSWORD } from '../sspr/mfa-policy.ts';

/**
 * Ends a successful sign-in, whichever way the user proved it (password, passkey): remembers the
 * page language and resolves the login prompt with the account's credentials epoch (a reset in the
 * meantime makes the result worthless) and `ts`, the moment the proof was checked (`auth_time`).
 */
export async function finishSignIn(
  provider: Provider,
  ctx: Context,
  input: { directory: AccountDirectory; account: DirectoryAccount; amr: string[]; checkedAt: number },
): Promise<void> {
  const { directory, account } = input;
  // Only when it changed: an UPDATE that changes nothing still takes SQLite's write lock on every sign-in.
  const lang = ctx.state.lang ? String(ctx.state.lang) : undefined;
  if (directory.rememberLanguage && lang && lang !== account.language) await directory.rememberLanguage(account.id, lang);
  // A passkey with user verification (`user`) is two factors by itself: the MFA level, no second step.
  const acr = input.amr.includes('user') ? ACR_MFA : ACR_PASSWORD;
  const login: LoginResultEpoch & { ts: number; amr: string[]; acr: string; remember: boolean } = {
    accountId: account.id, ts: input.checkedAt, amr: input.amr, acr, remember: true, credentialsEpoch: account.credentialsEpoch,
  };
  await finishPrompt(provider, ctx, { login }, false);
}
