import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, PasswordRejected, Throttled } from '../sspr/errors.ts';
import { createPasswordChange } from '../sspr/flows/password-change.ts';
import { field, readForm } from './body.ts';
import { csrfFailed, PageError } from './errors.ts';
import { language, renderPage, requestContext, type PageKit } from './kit.ts';
import { currentSession } from './signed-in.ts';
import type { PageMessage } from './views.ts';

/** `/account/security/password`: a signed-in user changes their password (current + new). */
export function accountPasswordRoutes(deps: { provider: Provider; kit: PageKit; sspr: SsprDeps }): Router {
  const { provider, kit, sspr } = deps;
  const change = createPasswordChange(sspr);
  const router = new Router();
  const minLength = sspr.config.password_policy.min_length;

  async function signedIn(ctx: Context) {
    const signedIn = await currentSession(provider, sspr.directory, ctx);
    if (!signedIn) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
    return { accountId: signedIn.account.id, binding: `session:${signedIn.session.uid}` };
  }

  const show = (ctx: Context, binding: string, extra: { messages?: PageMessage[]; status?: number } = {}) =>
    renderPage(ctx, kit, 'account-password', { titleKey: 'pages:account.password_title', csrf: kit.csrf.token(binding), minLength, ...extra });

  router.get('/account/security/password', async (ctx) => {
    const { binding } = await signedIn(ctx);
    show(ctx, binding);
  });

  router.post('/account/security/password', async (ctx) => {
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
      if (err instanceof Throttled) ctx.set('Retry-After', String(err.retryAfter));
      const params = { min: minLength, max: sspr.config.password_policy.max_length };
      const messages: PageMessage[] = err instanceof PasswordRejected && err.failed.length
        ? err.failed.map((rule) => ({ id: `errors:sspr.password.${rule}`, type: 'error', params }))
        : [{ id: `errors:sspr.${err.code}`, type: 'error' }];
      return show(ctx, binding, { status: err.status, messages });
    }
    renderPage(ctx, kit, 'account-password', { titleKey: 'pages:account.changed_title', done: true });
  });

  return router;
}
