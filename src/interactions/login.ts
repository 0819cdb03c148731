import type { Context } from 'koa';
import Router from '@koa/router';
import type Provider from 'oidc-provider';
import type { AuditLog } from '../audit/index.ts';
import type { AccountDirectory } from '../sspr/ports.ts';
import type { PasswordHasher } from '../sspr/password-hash.ts';
import type { SignInGuard } from '../sspr/sign-in-guard.ts';
import { stampEpoch } from '../provider/credentials-epoch.ts';
import { finishSignIn } from './finish-sign-in.ts';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import { field, readForm } from './body.ts';
import { createFlash } from './flash.ts';
import { badRequest, csrfFailed, PageError } from './errors.ts';
import { finishPrompt, interactionOf, loadInteraction, rememberedLogin, rememberLogin } from './interaction.ts';
import { pageTime, renderPage, requestContext, type PageKit } from './kit.ts';
import { interactionSession } from './signed-in.ts';
import { clientInfo, logoOrigin } from './client-info.ts';
import type { PageMessage } from './views.ts';

export interface LoginDeps {
  provider: Provider;
  kit: PageKit;
  directory: AccountDirectory;
  hasher: PasswordHasher;
  audit: AuditLog;
  guard?: SignInGuard;
}

/** Login, consent and abort pages of the OIDC interaction. */
export function loginRoutes(deps: LoginDeps): Router {
  const { provider, kit, directory, hasher, audit, guard } = deps;
  const router = new Router();
  const load = loadInteraction(provider, kit);
  const flash = createFlash(kit.csrf, cookieNamesFor(kit.config.issuer).flash);

  /**
   * A refused sign-in goes back to the sign-in page by redirect (post → redirect → get), so a reload
   * shows the page again instead of posting the password once more — another counted guess.
   */
  async function refused(ctx: Context, login: string, status: number, message: PageMessage, retryAfter?: number): Promise<void> {
    const interaction = interactionOf(ctx);
    const page = `/interaction/${interaction.uid}`;
    // Kept in the interaction for "Forgot your password?" (and the page after a language switch).
    await rememberLogin(interaction, login);
    flash.redirect(ctx, page, page, { status, messages: [message], login, retryAfter });
  }

  /** The app the user signs in to, by name (with its logo, whose origin the page's CSP then allows). */
  async function clientOf(ctx: Context) {
    const info = await clientInfo(provider, interactionOf(ctx).params.client_id);
    const origin = logoOrigin(info);
    if (origin) ctx.state.imgOrigin = origin;
    return info;
  }

  async function showLogin(ctx: Context, extra: { login?: string; messages?: PageMessage[]; status?: number } = {}) {
    const interaction = interactionOf(ctx);
    const uid = interaction.uid;
    renderPage(ctx, kit, 'login', {
      titleKey: 'pages:login.title',
      action: `/interaction/${uid}/login`,
      forgotUrl: `/interaction/${uid}/reset`,
      abortUrl: `/interaction/${uid}/abort`,
      csrf: kit.csrf.token(uid),
      client: await clientOf(ctx),
      // "Sign in with a passkey" (views/_passkey-sign-in.ejs) posts here.
      passkeyUrl: kit.passkeySignIn ? `/interaction/${uid}/passkey` : null,
      ...extra,
    });
  }

  router.get('/interaction/:uid', load, async (ctx) => {
    const interaction = interactionOf(ctx);
    const { name } = interaction.prompt;
    if (name === 'login') {
      // Back from a finished password reset (`?reset=done`): say so, and let the user sign in.
      const messages: PageMessage[] = ctx.query.reset === 'done' ? [{ id: 'reset:done.sign_in', type: 'success' }] : [];
      const hint = rememberedLogin(interaction) || (typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.slice(0, 320) : '');
      const f = flash.take(ctx, `/interaction/${interaction.uid}`);
      if (!f) return showLogin(ctx, { login: hint, messages });
      if (f.retryAfter) ctx.set('Retry-After', String(f.retryAfter));
      return showLogin(ctx, { login: f.login ?? hint, messages: f.messages, status: f.status });
    }
    if (name === 'consent') {
      const scopes = [...new Set(String(interaction.params.scope ?? '').split(' ').filter(Boolean))];
      return renderPage(ctx, kit, 'consent', {
        titleKey: 'pages:consent.title',
        action: `/interaction/${interaction.uid}/confirm`,
        abortUrl: `/interaction/${interaction.uid}/abort`,
        csrf: kit.csrf.token(interaction.uid),
        client: await clientOf(ctx),
        scopes,
      });
    }
    // Other prompts (our registration prompt) have their own pages under the same interaction URL.
    ctx.redirect(`/interaction/${interaction.uid}/${name}`);
  });

  router.post('/interaction/:uid/login', load, async (ctx) => {
    const interaction = interactionOf(ctx);
    const form = await readForm(ctx);
    if (!kit.csrf.verify(interaction.uid, form.csrf)) throw csrfFailed();
    if (interaction.prompt.name !== 'login') throw badRequest(`prompt is ${interaction.prompt.name}, not login`);
    const identifier = field(form, 'login', { max: 320 });
    const password = field(form, 'password', { max: 1024, trim: false });
    const context = requestContext(ctx, { clientId: String(interaction.params.client_id) });
    const account = identifier ? await directory.findByIdentifier(identifier) : null;
    // Counted before the password is checked (one budget per account, whichever spelling was typed):
    // concurrent guesses cannot get past the limit, and a refused one checks nothing.
    const subject = { accountId: account?.id ?? null, context };
    const verdict = guard ? await guard.before(identifier, ctx.ip, subject) : { allowed: true as const };
    if (!verdict.allowed) {
      // Every refusal says when it ends: a block its end, a slow-down the end of its delay.
      const until = verdict.until ?? (verdict.retryAfterSeconds ? new Date(Date.now() + verdict.retryAfterSeconds * 1000) : null);
      const time = until ? pageTime(ctx, kit, until) : null;
      const id = verdict.until ? 'errors:sign_in_blocked_until' : time ? 'errors:sign_in_throttled_until' : 'errors:sign_in_throttled';
      return refused(ctx, identifier, 429, { id, type: 'error', params: time ? { time } : undefined }, verdict.retryAfterSeconds);
    }
    // Same work for unknown, disabled and wrong-password: the answer and its timing reveal nothing.
    // The hash checked was read with the account and its credentials epoch (before the count): a reset
    // committing since then moved the epoch, so the result it would give is refused where it is used.
    const ok = account && !account.disabled && password
      ? await directory.verifyPassword(account.id, password, account)
      : await hasher.dummyVerify(password);
    const checkedAt = Math.floor(Date.now() / 1000);
    if (guard) await guard.after(identifier, ctx.ip, Boolean(ok && account), context, subject);
    if (!ok || !account) {
      await audit.record({
        activity: 'auth.sign_in.failed',
        result: 'failure',
        reason: !account ? 'unknown_user' : account.disabled ? 'account_disabled' : 'wrong_password',
        target: account?.login ?? null,
        targetAccountId: account?.id ?? null,
        context,
      });
      return refused(ctx, identifier, 401, { id: 'errors:invalid_credentials', type: 'error', field: 'password' });
    }
    await audit.record({ activity: 'auth.sign_in.succeeded', result: 'success', target: account.login, targetAccountId: account.id, actor: account.login, context });
    // `ts`: the sign-in happened when the password was checked, not whenever the result is resumed.
    await finishSignIn(provider, ctx, { directory, account, amr: ['pwd'], checkedAt });
  });

  router.post('/interaction/:uid/confirm', load, async (ctx) => {
    const interaction = interactionOf(ctx);
    const form = await readForm(ctx);
    if (!kit.csrf.verify(interaction.uid, form.csrf)) throw csrfFailed();
    if (interaction.prompt.name !== 'consent') throw badRequest(`prompt is ${interaction.prompt.name}, not consent`);
    // Consent is given by a session that still holds; the grant carries that session's epoch.
    const current = await interactionSession(provider, directory, interaction);
    if (!current) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required', 'session ended before consent');
    const accountId = current.account.id;
    const details = interaction.prompt.details as {
      missingOIDCScope?: string[];
      missingOIDCClaims?: string[];
      missingResourceScopes?: Record<string, string[]>;
    };
    const grant = interaction.grantId
      ? await provider.Grant.find(interaction.grantId)
      : new provider.Grant({ accountId, clientId: String(interaction.params.client_id) });
    if (!grant) throw badRequest('grant not found');
    stampEpoch(grant, current.account.credentialsEpoch);
    if (details.missingOIDCScope) grant.addOIDCScope(details.missingOIDCScope.join(' '));
    if (details.missingOIDCClaims) grant.addOIDCClaims(details.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(details.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    const grantId = await grant.save();
    await finishPrompt(provider, ctx, { consent: interaction.grantId ? {} : { grantId } });
  });

  // The addresses forms post to answer GET too (a language link or a reload after an error page shown
  // there): with the page of the prompt in progress, never "page not found".
  for (const path of ['login', 'confirm']) {
    router.get(`/interaction/:uid/${path}`, load, (ctx) => {
      const lang = typeof ctx.query.lang === 'string' ? `?${new URLSearchParams({ lang: ctx.query.lang })}` : '';
      ctx.status = 303;
      ctx.redirect(`/interaction/${interactionOf(ctx).uid}${lang}`);
    });
  }

  router.get('/interaction/:uid/abort', load, async (ctx) => {
    await finishPrompt(provider, ctx, { error: 'access_denied', error_description: 'End-User aborted interaction' }, false);
  });

  return router;
}
