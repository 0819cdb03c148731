import type Router from '@koa/router';
import type { Context } from 'koa';
import { field } from './body.ts';
import { PageError } from './errors.ts';
import { renderPage } from './kit.ts';
import { NOTICES, stepRoutes } from './registration-steps.ts';
import { noStore, type Place, type RegistrationPages, type RegistrationRouteDeps } from './registration-pages.ts';
import { currentSession } from './signed-in.ts';
import type { PageMessage } from './views.ts';

const RECENT_MS = 10 * 60_000;

/**
 * `/account/security`: a signed-in user's methods (through the registration flow's step pages),
 * removing one (a confirmation page first, never below the policy), where they are signed in, and
 * re-entering the password when the sign-in is older than ten minutes.
 */
export function accountSecurityRoutes(router: Router, pages: RegistrationPages, deps: RegistrationRouteDeps): void {
  const { provider, kit, sspr, security } = deps;
  const { post, open, step, render } = pages;
  const signInRequired = () => new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');

  /**
   * The host's sessions through the directory port, looked up at each request. Both or neither:
   * listing sessions the page cannot end would offer a button that does nothing.
   */
  function sessionsPort() {
    const { directory } = sspr;
    const { listSessions, endOtherSessions } = directory;
    return listSessions && endOtherSessions
      ? { list: listSessions.bind(directory), endOthers: endOtherSessions.bind(directory) }
      : null;
  }

  async function accountPlace(ctx: Context, withSessions = false): Promise<Place | null> {
    const signedIn = await currentSession(provider, sspr.directory, ctx);
    if (!signedIn) return null;
    const { session } = signedIn;
    const accountId = signedIn.account.id;
    // Sessions are the host's (through the directory port); a host without them: no sessions section.
    const port = withSessions ? sessionsPort() : null;
    const listed = port ? await port.list(accountId, session.jti) : null;
    const place: Place = {
      kind: 'account',
      accountId,
      binding: `session:${session.uid}`,
      base: '/account/security',
      sessionId: session.jti,
      ...(listed ? { sessions: listed.sessions, grantsElsewhere: listed.grantsElsewhere } : {}),
    };
    const now = sspr.clock.now().getTime();
    const authTime = session.authTime();
    let recent = typeof authTime === 'number' && now - authTime * 1000 <= RECENT_MS && now - authTime * 1000 >= -RECENT_MS;
    if (!recent) {
      const view = await open(ctx, place);
      recent = view.reauthAt !== null && now - view.reauthAt.getTime() <= RECENT_MS;
    }
    place.recent = recent;
    return place;
  }

  router.get('/account/security', noStore, async (ctx) => {
    const place = await accountPlace(ctx, true);
    if (!place) {
      return renderPage(ctx, kit, 'account-security', {
        titleKey: 'registration:title.security',
        status: 401,
        messages: [{ id: 'registration:security.sign_in_required', type: 'info' }],
        place: 'account',
        signedOut: true,
        signInUrl: kit.accountSignInUrl,
      });
    }
    const view = await open(ctx, place);
    const notice = typeof ctx.query.m === 'string' && NOTICES.has(ctx.query.m) ? ctx.query.m : null;
    const messages: PageMessage[] = notice && notice !== 'reauthenticated' ? [{ id: `registration:${notice}`, type: 'success' }] : [];
    await render(ctx, place, view, { messages, ...pages.shown(ctx, place) });
  });

  stepRoutes(router, pages, deps, '/account/security', (ctx) => accountPlace(ctx), [noStore], async (ctx, place) => pages.redirectTo(ctx, place));

  // Remove, step one: a page that asks (GET, so a reload or a language link lands here again).
  router.get('/account/security/remove/:method', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw signInRequired();
    const view = await open(ctx, place);
    const method = view.methods.find((m) => m.id === ctx.params.method);
    // Gone already, not removable, or no recent sign-in: the security page says why.
    if (!method || !method.removable || !place.recent || view.state !== 'choosing') return pages.redirectTo(ctx, place);
    renderPage(ctx, kit, 'account-remove', {
      titleKey: 'registration:remove.title',
      method,
      view,
      csrf: kit.csrf.token(place.binding),
      urls: { remove: `${place.base}/remove`, base: place.base },
      date: (d: Date | null) => pages.dateOf(ctx, d),
    });
  });
  // No method in the address (an old link): the security page.
  router.get('/account/security/remove', noStore, (ctx) => {
    ctx.status = 303;
    ctx.redirect('/account/security');
  });

  // Remove, step two: the confirmed post. A refusal goes back to the security page (GET) with why.
  router.post('/account/security/remove', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw signInRequired();
    await post(ctx, place, async (_view, form) => {
      const methodId = field(form, 'method', { max: 64 });
      await security.removeMethod(place.accountId, methodId, step(ctx, place));
      pages.redirectTo(ctx, place, 'removed');
    }, { needsRecent: true });
  });

  router.post('/account/security/sessions/end-others', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw signInRequired();
    const port = sessionsPort();
    if (!port) throw new PageError(404, 'not_found');
    await post(ctx, place, async () => {
      const keep = place.sessionId!;
      const login = (await sspr.directory.findById(place.accountId))?.login ?? place.accountId;
      await sspr.store.transaction(async (t) => {
        const { sessions } = await port.endOthers(place.accountId, keep, t);
        await sspr.audit.record({
          activity: 'account.sessions_ended',
          result: 'success',
          actor: login,
          target: login,
          targetAccountId: place.accountId,
          details: { sessions },
          context: step(ctx, place).context,
        }, t);
      });
      pages.redirectTo(ctx, place, 'sessions_ended');
    }, { needsRecent: true });
  });

  router.post('/account/security/reauth', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw signInRequired();
    await post(ctx, place, async (view, form) => {
      const password = field(form, 'password', { max: 1024, trim: false });
      const ok = await security.reauthenticate(view.id, place.accountId, password, step(ctx, place));
      if (!ok) return pages.backWithError(ctx, place, 401, [{ id: 'registration:errors.wrong_password', type: 'error' }], { field: 'password' });
      pages.redirectTo(ctx, place, 'reauthenticated');
    }, { field: () => 'password' });
  });

}
