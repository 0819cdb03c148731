import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, PasswordRejected, Throttled } from '../sspr/errors.ts';
import type { PasswordChange } from '../sspr/flows/password-change.ts';
import { formatTime } from '../delivery/messages.ts';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import { field, readForm } from './body.ts';
import { createFlash } from './flash.ts';
import { csrfFailed, PageError } from './errors.ts';
import { language, renderPage, requestContext, type PageKit } from './kit.ts';
import { currentSession } from './signed-in.ts';
import { fieldErrors, type FieldMessage } from './field-errors.ts';

/**
 * `/account/security/password`: a signed-in user changes their password (current + new). A refusal
 * goes back to the form by redirect, so a reload does not post the current password again (another
 * guess counted on the account's sign-in budget).
 */
export function accountPasswordRoutes(deps: { provider: Provider; kit: PageKit; sspr: SsprDeps; change: PasswordChange }): Router {
  const { provider, kit, sspr, change } = deps;
  const router = new Router();
  const minLength = sspr.config.password_policy.min_length;
  const PAGE = '/account/security/password';
  const flash = createFlash(kit.csrf, cookieNamesFor(sspr.config.issuer).flash);

  const DONE = `${PAGE}/changed`;

  async function signedIn(ctx: Context) {
    const signedIn = await currentSession(provider, sspr.directory, ctx);
    if (!signedIn) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
    return { accountId: signedIn.account.id, login: signedIn.account.login, binding: `session:${signedIn.session.uid}` };
  }

  // The form holds the login (autocomplete="username") so a password manager updates the right entry.
  const show = (ctx: Context, binding: string, login: string, extra: { messages?: FieldMessage[]; status?: number } = {}) => {
    const errors = fieldErrors(extra.messages, ['current_password', 'new_password', 'confirm_password']);
    renderPage(ctx, kit, 'account-password', { titleKey: 'pages:account.password_title', csrf: kit.csrf.token(binding), minLength, login, errors, messages: errors.banner, status: extra.status });
  };

  router.get(PAGE, async (ctx) => {
    const { binding, login } = await signedIn(ctx);
    const f = flash.take(ctx, PAGE);
    if (f?.retryAfter) ctx.set('Retry-After', String(f.retryAfter));
    show(ctx, binding, login, f ? { messages: f.messages, status: f.status } : {});
  });

  // After the change every session has ended: this page needs none, and a reload posts nothing.
  router.get(DONE, async (ctx) => {
    renderPage(ctx, kit, 'account-password', { titleKey: 'pages:account.changed_title', done: true, signInUrl: kit.accountSignInUrl ?? null });
  });

  router.post(PAGE, async (ctx) => {
    const { accountId, binding } = await signedIn(ctx);
    const form = await readForm(ctx);
    if (!kit.csrf.verify(binding, form.csrf)) throw csrfFailed();
    try {
      await change.change({
        accountId,
        current: field(form, 'current_password', { max: 1024, trim: false }),
        password: field(form, 'new_password', { max: 1024, trim: false }),
        confirmation: field(form, 'confirm_password', { max: 1024, trim: false }),
        context: requestContext(ctx),
        lang: language(ctx, kit),
      });
    } catch (err) {
      if (!isSsprError(err)) throw err;
      const params = { min: minLength, max: sspr.config.password_policy.max_length };
      // Each refused rule next to the field it is about.
      const fieldOf = (rule: string) => (rule === 'wrong_current' ? 'current_password' : rule === 'mismatch' ? 'confirm_password' : 'new_password');
      const messages: FieldMessage[] = err instanceof PasswordRejected && err.failed.length
        ? err.failed.map((rule) => ({ id: `errors:sspr.password.${rule}`, type: 'error', params, field: fieldOf(rule) }))
        : err instanceof Throttled
          ? [{ id: 'errors:sign_in_blocked_until', type: 'error', params: { time: formatTime(err.until, language(ctx, kit)) } }]
          : [{ id: `errors:sspr.${err.code}`, type: 'error' }];
      return flash.redirect(ctx, PAGE, PAGE, { status: err.status, messages, retryAfter: err instanceof Throttled ? err.retryAfter : undefined });
    }
    ctx.status = 303;
    ctx.redirect(DONE);
  });

  return router;
}
