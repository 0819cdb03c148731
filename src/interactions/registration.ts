import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Language } from '../i18n/index.ts';
import type { SsprDeps } from '../sspr/context.ts';
import type { DirectorySession } from '../sspr/ports.ts';
import { isSsprError, type SsprError, Throttled } from '../sspr/errors.ts';
import type { AccountSecurity } from '../sspr/account-security.ts';
import type { RegistrationFlow, RegistrationView } from '../sspr/flows/registration.ts';
import { formatTime } from '../delivery/messages.ts';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import { field, readForm } from './body.ts';
import { createFlash } from './flash.ts';
import { badRequest, csrfFailed, PageError } from './errors.ts';
import { finishPrompt, interactionOf, loadInteraction } from './interaction.ts';
import { language, renderPage, requestContext, type PageKit } from './kit.ts';
import { currentSession, interactionSession } from './signed-in.ts';
import type { PageMessage } from './views.ts';

/**
 * Registration pages, in two places that share one flow and one set of step pages:
 * - `/interaction/:uid/register…`: the `register` prompt of an OIDC interaction (forced at sign-in);
 *   Finish, "these are still right" and "Not now" end the prompt and the interaction goes on.
 * - `/account/security…`: a signed-in user's methods (provider session), view / add / remove; changes
 *   need a sign-in (or password re-entry) within the last 10 minutes.
 * Routes stay thin: parse the form, call the flow, then redirect — errors too (flash.ts), so a
 * reload never posts a code or a password again.
 */

export interface RegistrationRouteDeps {
  provider: Provider;
  kit: PageKit;
  sspr: SsprDeps;
  /** From the composition root (src/compose.ts). */
  flows: RegistrationFlow;
  /** Re-authentication and removing methods on /account/security. */
  security: AccountSecurity;
}

/** Where a flow's pages live and who it belongs to. */
interface Place {
  kind: 'interaction' | 'account';
  accountId: string;
  /** Binds the flow row: the interaction uid, or `session:<provider session uid>`. */
  binding: string;
  /** URL prefix of this place's pages and form actions. */
  base: string;
  /** Only /account/security: a sign-in or password re-entry within RECENT_MS. */
  recent?: boolean;
  clientId?: string;
  /** Only /account/security: the provider session this page is shown in, and the account's sessions. */
  sessionId?: string;
  sessions?: DirectorySession[];
  /** Only /account/security: grants this session does not use (other browsers, offline access). */
  grantsElsewhere?: number;
}

const RECENT_MS = 10 * 60_000;
/** Success notices passed through the redirect; anything else in `?m=` is ignored. */
const NOTICES = new Set(['added', 'removed', 'reauthenticated', 'sessions_ended']);
/** SsprError codes whose generic text (errors:sspr.*) fits registration too; the rest have our own. */
const GENERIC = new Set(['code_invalid', 'code_expired', 'code_used', 'too_many_attempts', 'method_invalid_target', 'number_not_mobile', 'method_not_allowed']);

export function messageFor(err: SsprError): PageMessage {
  const reason = err.params?.reason;
  if (err.code === 'method_not_allowed' && reason === 'below_required') return { id: 'registration:errors.below_required', type: 'error', params: err.params };
  if (err.code === 'flow_invalid' && reason === 'too_few_methods') return { id: 'registration:errors.too_few_methods', type: 'error' };
  if (GENERIC.has(err.code)) return { id: `errors:sspr.${err.code}`, type: 'error', params: err.params };
  return { id: `registration:errors.${err.code}`, type: 'error', params: err.params };
}

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

function noStore(ctx: Context, next: Next): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  return next();
}

export function registrationRoutes(deps: RegistrationRouteDeps): Router {
  const { provider, kit, sspr, flows, security } = deps;
  const router = new Router();
  const load = loadInteraction(provider, kit);
  const inPrompt = requirePrompt('register');
  const flash = createFlash(kit.csrf, cookieNamesFor(sspr.config.issuer).flash);

  /** Post → redirect → get, with the error for the page to show. */
  function backWithError(ctx: Context, place: Place, status: number, messages: PageMessage[], extra: { until?: Date; values?: Record<string, string> } = {}): void {
    flash.redirect(ctx, place.base, place.base, { status, messages, until: extra.until?.toISOString(), values: extra.values });
  }

  /** The error a POST left for this GET (status, Retry-After while a block lasts, refilled values). */
  function shown(ctx: Context, place: Place): { messages?: PageMessage[]; status?: number; values?: Record<string, string> } {
    const f = flash.take(ctx, place.base);
    if (!f) return {};
    if (f.until) {
      const seconds = Math.ceil((Date.parse(f.until) - sspr.clock.now().getTime()) / 1000);
      if (seconds > 0) ctx.set('Retry-After', String(seconds));
    }
    return { messages: f.messages, status: f.status, values: f.values };
  }

  /** A block says when it ends, in the page's language. */
  function errorMessage(ctx: Context, err: SsprError): PageMessage {
    if (err instanceof Throttled) return { id: 'registration:errors.throttled_until', type: 'error', params: { time: formatTime(err.until, lang(ctx)) } };
    return messageFor(err);
  }

  const lang = (ctx: Context): Language => language(ctx, kit);
  const step = (ctx: Context, place: Place) => ({ context: requestContext(ctx, place.clientId ? { clientId: place.clientId } : {}), lang: lang(ctx) });
  const open = (ctx: Context, place: Place) => flows.open({
    accountId: place.accountId,
    binding: place.binding,
    purpose: place.kind === 'interaction' ? 'sign_in' : 'self_service',
    ...step(ctx, place),
  });

  function formatDate(d: Date | null, l: Language, withTime = false): string {
    if (!d) return '';
    return new Intl.DateTimeFormat(l === 'nl' ? 'nl-NL' : 'en-GB', { dateStyle: 'long', ...(withTime ? { timeStyle: 'short' } : {}), timeZone: 'UTC' }).format(d);
  }

  /** Draws the page of the flow's current step. */
  function render(ctx: Context, place: Place, view: RegistrationView, extra: { messages?: PageMessage[]; status?: number; values?: Record<string, string> } = {}): void {
    const l = lang(ctx);
    const urls = {
      base: place.base,
      method: `${place.base}/method`,
      target: `${place.base}/target`,
      verify: `${place.base}/verify`,
      finish: `${place.base}/finish`,
      reconfirm: `${place.base}/reconfirm`,
      skip: `${place.base}/skip`,
      remove: `${place.base}/remove`,
      reauth: `${place.base}/reauth`,
      endSessions: `${place.base}/sessions/end-others`,
      abort: place.kind === 'interaction' ? `${place.base.replace(/\/register$/, '')}/abort` : null,
    };
    const common = {
      place: place.kind,
      recent: place.recent ?? true,
      view,
      urls,
      csrf: kit.csrf.token(place.binding),
      minutes: sspr.config.sspr.code_ttl_minutes,
      values: extra.values ?? {},
      date: (d: Date | null) => formatDate(d, l),
      dateTime: (d: Date | null) => formatDate(d, l, true),
      sessions: place.sessions ?? [],
      currentSession: place.sessionId ?? null,
      grantsElsewhere: place.grantsElsewhere ?? 0,
      messages: extra.messages,
      status: extra.status,
    };
    switch (view.state) {
      case 'awaiting_target':
        return renderPage(ctx, kit, 'register-target', { ...common, titleKey: `registration:title.target_${view.selected}` });
      case 'awaiting_code':
        return renderPage(ctx, kit, 'register-code', { ...common, titleKey: 'registration:title.code' });
      case 'awaiting_secret':
        return renderPage(ctx, kit, 'register-secret', { ...common, titleKey: `registration:title.secret_${view.selected}` });
      case 'reconfirming':
        return renderPage(ctx, kit, 'register-reconfirm', { ...common, titleKey: 'registration:title.reconfirm' });
      default:
        if (place.kind === 'account') return renderPage(ctx, kit, 'account-security', { ...common, titleKey: 'registration:title.security' });
        return renderPage(ctx, kit, 'register-choose', { ...common, titleKey: 'registration:title.choose' });
    }
  }

  /** After a successful step: back to the place's page (POST/redirect/GET), with an optional notice. */
  function redirectTo(ctx: Context, place: Place, notice?: string): void {
    ctx.status = 303;
    ctx.redirect(notice ? `${place.base}?m=${notice}` : place.base);
  }

  /**
   * One POST: CSRF, the flow the form was drawn for, then `action`. An SsprError re-draws the
   * current step with its message (the form keeps the typed address or number).
   */
  async function post(
    ctx: Context,
    place: Place,
    action: (view: RegistrationView, form: Record<string, string>) => Promise<void | 'redirect'>,
    opts: { values?: (form: Record<string, string>) => Record<string, string>; needsRecent?: boolean } = {},
  ): Promise<void> {
    const form = await readForm(ctx);
    if (!kit.csrf.verify(place.binding, form.csrf)) throw csrfFailed();
    const view = await open(ctx, place);
    if (field(form, 'flow', { max: 64, optional: true }) !== view.id) {
      // The flow the page was drawn for has ended or expired; show where things stand now.
      return render(ctx, place, view, { status: 409, messages: [{ id: 'registration:errors.flow_expired', type: 'error' }] });
    }
    if (opts.needsRecent && place.recent === false) {
      return render(ctx, place, view, { status: 403, messages: [{ id: 'registration:security.reauth_intro', type: 'error' }] });
    }
    try {
      const result = await action(view, form);
      if (result === 'redirect') redirectTo(ctx, place);
    } catch (err) {
      if (!isSsprError(err)) throw err;
      backWithError(ctx, place, err.status, [errorMessage(ctx, err)], { until: err instanceof Throttled ? err.until : undefined, values: opts.values?.(form) });
    }
  }

  // ── the `register` prompt of an OIDC interaction ────────────────────────────────────────────────

  async function interactionPlace(ctx: Context): Promise<Place> {
    const interaction = interactionOf(ctx);
    if (!interaction.session?.accountId) throw badRequest('register prompt without a session');
    // A prompt parked before a reset (or a password change) must not add methods to the account.
    const current = await interactionSession(provider, sspr.directory, interaction);
    if (!current) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required', 'session ended during the register prompt');
    const accountId = current.account.id;
    return {
      kind: 'interaction',
      accountId,
      binding: interaction.uid,
      base: `/interaction/${interaction.uid}/register`,
      clientId: String(interaction.params.client_id),
    };
  }

  router.get('/interaction/:uid/register', noStore, load, inPrompt, async (ctx) => {
    const place = await interactionPlace(ctx);
    const view = await open(ctx, place);
    const notice = typeof ctx.query.m === 'string' && NOTICES.has(ctx.query.m) ? ctx.query.m : null;
    render(ctx, place, view, { ...(notice ? { messages: [{ id: `registration:${notice}`, type: 'success' }] } : {}), ...shown(ctx, place) });
  });

  /** The step routes, shared by both places. `finished` ends the place (prompt or page). */
  function stepRoutes(prefix: string, placeOf: (ctx: Context) => Promise<Place | null>, middleware: Array<(ctx: Context, next: Next) => Promise<void>>, finished: (ctx: Context, place: Place, how: 'completed' | 'skipped') => Promise<void>) {
    const withPlace = (handler: (ctx: Context, place: Place) => Promise<void>) => async (ctx: Context) => {
      const place = await placeOf(ctx);
      if (!place) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
      await handler(ctx, place);
    };
    const needsRecent = prefix.startsWith('/account');

    // The secret being set up, as a text file (the new recovery codes, to keep): only while it is pending.
    router.get(`${prefix}/enrolment.txt`, ...middleware, withPlace(async (ctx, place) => {
      const view = await open(ctx, place);
      const text = view.enrolment?.data.text;
      if (typeof text !== 'string') throw new PageError(404, 'not_found', 'errors:not_found');
      ctx.type = 'text/plain; charset=utf-8';
      ctx.set('Content-Disposition', `attachment; filename="${view.selected ?? 'enrolment'}.txt"`);
      ctx.body = text;
    }));

    router.post(`${prefix}/method`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
      const method = field(form, 'method', { max: 16, optional: true });
      if (!method) {
        render(ctx, place, view, { status: 400, messages: [{ id: 'registration:errors.choose_method', type: 'error' }] });
        return;
      }
      await flows.select(view.id, place.accountId, { type: method, ...step(ctx, place) });
      return 'redirect';
    }, { needsRecent })));

    router.post(`${prefix}/target`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
      if (form.action === 'back') {
        await flows.back(view.id, place.accountId);
        return 'redirect';
      }
      const target = field(form, view.selectedInput ?? 'email', { max: 320 });
      await flows.sendCode(view.id, place.accountId, { target, ...step(ctx, place) });
      return 'redirect';
    }, { needsRecent, values: (form) => ({ email: (form.email ?? '').slice(0, 320), phone: (form.phone ?? '').slice(0, 40) }) })));

    router.post(`${prefix}/verify`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
      if (form.action === 'back') {
        await flows.back(view.id, place.accountId);
        return 'redirect';
      }
      if (form.action === 'resend') {
        await flows.resend(view.id, place.accountId, step(ctx, place));
        return 'redirect';
      }
      const code = field(form, 'code', { max: 32 });
      await flows.verify(view.id, place.accountId, { code, ...step(ctx, place) });
      ctx.status = 303;
      ctx.redirect(`${place.base}?m=added`);
    }, { needsRecent })));

    router.post(`${prefix}/finish`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view) => {
      await flows.finish(view.id, place.accountId, step(ctx, place));
      await finished(ctx, place, 'completed');
    })));

    router.post(`${prefix}/reconfirm`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view, form) => {
      if (form.action === 'change') {
        await flows.back(view.id, place.accountId);
        return 'redirect';
      }
      await flows.reconfirm(view.id, place.accountId, step(ctx, place));
      await finished(ctx, place, 'completed');
    })));

    router.post(`${prefix}/skip`, ...middleware, withPlace((ctx, place) => post(ctx, place, async (view) => {
      await flows.skip(view.id, place.accountId, step(ctx, place));
      await finished(ctx, place, 'skipped');
    })));
  }

  stepRoutes(
    '/interaction/:uid/register',
    async (ctx) => interactionPlace(ctx),
    [noStore, load, inPrompt],
    // The interaction goes on to consent and back to the app; the login result is kept (merge).
    (ctx, _place, how) => finishPrompt(provider, ctx, { register: how === 'completed' ? { completed: true } : { skipped: true } }),
  );

  // ── /account/security: the signed-in user's methods ──────────────────────────────────────────────

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

  async function accountPlace(ctx: Context): Promise<Place | null> {
    const signedIn = await currentSession(provider, sspr.directory, ctx);
    if (!signedIn) return null;
    const { session } = signedIn;
    const accountId = signedIn.account.id;
    // Sessions are the host's (through the directory port); a host without them: no sessions section.
    const port = sessionsPort();
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
    const place = await accountPlace(ctx);
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
    render(ctx, place, view, { messages, ...shown(ctx, place) });
  });

  stepRoutes('/account/security', accountPlace, [noStore], async (ctx, place) => redirectTo(ctx, place));

  router.post('/account/security/remove', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
    await post(ctx, place, async (_view, form) => {
      const methodId = field(form, 'method', { max: 64 });
      await security.removeMethod(place.accountId, methodId, step(ctx, place));
      ctx.status = 303;
      ctx.redirect(`${place.base}?m=removed`);
    }, { needsRecent: true });
  });

  router.post('/account/security/sessions/end-others', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
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
      ctx.status = 303;
      ctx.redirect(`${place.base}?m=sessions_ended`);
    }, { needsRecent: true });
  });

  router.post('/account/security/reauth', noStore, async (ctx) => {
    const place = await accountPlace(ctx);
    if (!place) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
    await post(ctx, place, async (view, form) => {
      const password = field(form, 'password', { max: 1024, trim: false });
      const ok = await security.reauthenticate(view.id, place.accountId, password, step(ctx, place));
      if (!ok) return backWithError(ctx, place, 401, [{ id: 'registration:errors.wrong_password', type: 'error' }]);
      ctx.status = 303;
      ctx.redirect(`${place.base}?m=reauthenticated`);
    });
  });

  return router;
}
