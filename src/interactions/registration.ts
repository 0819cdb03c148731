import Router from '@koa/router';
import type { Context, Next } from 'koa';
import { badRequest, PageError } from './errors.ts';
import { finishPrompt, interactionOf, loadInteraction } from './interaction.ts';
import { accountSecurityRoutes } from './account-security.ts';
import { interactionSession } from './signed-in.ts';
import { createRegistrationPages, noStore, type Place, type RegistrationRouteDeps } from './registration-pages.ts';
import { NOTICES, stepRoutes } from './registration-steps.ts';

export type { RegistrationRouteDeps } from './registration-pages.ts';
export { messageFor } from './method-messages.ts';

/**
 * Registration pages, in two places that share one flow and one set of step pages:
 * - `/interaction/:uid/register…`: the `register` prompt of an OIDC interaction (forced at sign-in);
 *   Finish, "these are still right" and "Not now" end the prompt and the interaction goes on.
 * - `/account/security…` (account-security.ts): a signed-in user's methods (provider session), view /
 *   add / change / remove; changes need a sign-in (or password re-entry) within the last 10 minutes.
 * Routes stay thin: parse the form, call the flow, then redirect — errors too (registration-pages.ts).
 */

/** GET: send a browser on another prompt to the interaction's own page; POST: refuse. */
function requirePrompt(name: string) {
  return async function requirePromptMiddleware(ctx: Context, next: Next): Promise<void> {
    const interaction = interactionOf(ctx);
    if (interaction.prompt.name !== name) {
      if (ctx.method === 'GET') return ctx.redirect(`/interaction/${interaction.uid}`);
      throw badRequest(`prompt is ${interaction.prompt.name}, not ${name}`);
    }
    await next();
  };
}

export function registrationRoutes(deps: RegistrationRouteDeps): Router {
  const { provider, kit, sspr } = deps;
  const router = new Router();
  const load = loadInteraction(provider, kit);
  const inPrompt = requirePrompt('register');
  const pages = createRegistrationPages(deps);

  async function interactionPlace(ctx: Context): Promise<Place> {
    const interaction = interactionOf(ctx);
    if (!interaction.session?.accountId) throw badRequest('register prompt without a session');
    // A prompt parked before a reset (or a password change) must not add methods to the account.
    const current = await interactionSession(provider, sspr.directory, interaction);
    if (!current) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required', 'session ended during the register prompt');
    return {
      kind: 'interaction',
      accountId: current.account.id,
      binding: interaction.uid,
      base: `/interaction/${interaction.uid}/register`,
      clientId: String(interaction.params.client_id),
    };
  }

  router.get('/interaction/:uid/register', noStore, load, inPrompt, async (ctx) => {
    const place = await interactionPlace(ctx);
    const view = await pages.open(ctx, place);
    const notice = typeof ctx.query.m === 'string' && NOTICES.has(ctx.query.m) ? ctx.query.m : null;
    await pages.render(ctx, place, view, { ...(notice ? { messages: [{ id: `registration:${notice}`, type: 'success' }] } : {}), ...pages.shown(ctx, place) });
  });

  stepRoutes(
    router, pages, deps,
    '/interaction/:uid/register',
    async (ctx) => interactionPlace(ctx),
    [noStore, load, inPrompt],
    // The interaction goes on to consent and back to the app; the login result is kept (merge).
    (ctx, _place, how) => finishPrompt(provider, ctx, { register: how === 'completed' ? { completed: true } : { skipped: true } }),
  );

  accountSecurityRoutes(router, pages, deps);
  return router;
}
