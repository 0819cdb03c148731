import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import { packageRoot } from '../paths.ts';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, type SsprError } from '../sspr/errors.ts';
import type { RegistrationFlow } from '../sspr/flows/registration.ts';
import { pageOf, type ResetFlowService, type ResetFlowState } from '../sspr/flows/reset.ts';
import { accountOfAssertion } from '../sspr/methods/passkey.ts';
import type { PasskeyService } from '../sspr/passkeys.ts';
import type { SignInGuard } from '../sspr/sign-in-guard.ts';
import { formatTime } from '../delivery/messages.ts';
import { field, readForm } from './body.ts';
import { createFlash } from './flash.ts';
import { badRequest, csrfFailed, PageError } from './errors.ts';
import { finishSignIn } from './finish-sign-in.ts';
import { interactionOf, loadInteraction } from './interaction.ts';
import { language, requestContext, type PageKit } from './kit.ts';
import { currentSession, interactionSession } from './signed-in.ts';
import type { PageMessage } from './views.ts';

/**
 * The passkey ceremonies' endpoints, beside the pages they run on (the partials views/_passkey-*.ejs
 * and the script views/static/passkey.js):
 * - `…/options` answer the script with JSON: the ceremony's options, with a challenge bound to the
 *   flow or interaction the page belongs to;
 * - the page then posts the browser's answer as an ordinary form and is redirected (errors too).
 * Places: the sign-in page (passwordless), the register prompt and /account/security (registration,
 * naming), and the reset's code step (a proof). CSRF tokens are the pages' own.
 */

export interface PasskeyRouteDeps {
  provider: Provider;
  kit: PageKit;
  sspr: SsprDeps;
  passkeys: PasskeyService;
  registration: RegistrationFlow;
  reset: ResetFlowService;
  guard?: SignInGuard;
}

const RECENT_MS = 10 * 60_000;
const RESPONSE_MAX = 12_000;

/** Our script and SimpleWebAuthn's browser bundle, served from our own origin (no CDN). */
function scripts(): { ours: Buffer; library: Buffer } {
  const require = createRequire(import.meta.url);
  const bundle = join(dirname(require.resolve('@simplewebauthn/browser')), '..', 'dist/bundle/index.umd.min.js');
  return { ours: readFileSync(join(packageRoot(), 'views/static/passkey.js')), library: readFileSync(bundle) };
}

export function passkeyRoutes(deps: PasskeyRouteDeps): Router {
  const { provider, kit, sspr, passkeys, registration, reset, guard } = deps;
  const router = new Router();
  const load = loadInteraction(provider, kit);
  const names = cookieNamesFor(sspr.config.issuer);
  const flash = createFlash(kit.csrf, names.flash);
  const files = scripts();

  const serve = (body: Buffer) => (ctx: Context) => {
    ctx.type = 'application/javascript; charset=utf-8';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = body;
  };
  router.get('/static/passkey.js', serve(files.ours));
  router.get('/static/passkey-browser.js', serve(files.library));

  /** The script's options request: JSON, errors as a code and a status (no page around them). */
  async function options(ctx: Context, build: () => Promise<Record<string, unknown>>): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    try {
      ctx.body = await build();
    } catch (err) {
      if (!isSsprError(err)) throw err;
      ctx.status = err.status;
      ctx.body = { error: err.code };
    }
  }

  const messageOf = (ctx: Context, err: SsprError): PageMessage => {
    if (err.code === 'throttled' && 'until' in err) {
      return { id: 'errors:sspr.throttled_until', type: 'error', params: { time: formatTime((err as SsprError & { until: Date }).until, language(ctx, kit)) } };
    }
    if (err.code === 'code_invalid' || err.code === 'code_used' || err.code === 'code_expired') return { id: 'passkey:errors.failed', type: 'error' };
    if (err.code === 'method_not_allowed') return { id: 'passkey:errors.not_allowed', type: 'error' };
    return { id: `errors:sspr.${err.code}`, type: 'error', params: err.params };
  };

  // ── passwordless sign-in ───────────────────────────────────────────────────────────────────────

  const signInBinding = (uid: string) => `sign_in|${uid}`;

  router.post('/interaction/:uid/passkey/options', load, async (ctx) => {
    const interaction = interactionOf(ctx);
    const form = await readForm(ctx);
    if (!kit.csrf.verify(interaction.uid, form.csrf)) throw csrfFailed();
    if (interaction.prompt.name !== 'login') throw badRequest(`prompt is ${interaction.prompt.name}, not login`);
    await options(ctx, () => passkeys.method().assertionOptions({ purpose: 'sign_in', binding: signInBinding(interaction.uid), accountId: null }));
  });

  router.post('/interaction/:uid/passkey', load, async (ctx) => {
    const interaction = interactionOf(ctx);
    const form = await readForm(ctx);
    if (!kit.csrf.verify(interaction.uid, form.csrf)) throw csrfFailed();
    if (interaction.prompt.name !== 'login') throw badRequest(`prompt is ${interaction.prompt.name}, not login`);
    const page = `/interaction/${interaction.uid}`;
    const response = field(form, 'response', { max: RESPONSE_MAX });
    const context = requestContext(ctx, { clientId: String(interaction.params.client_id) });
    // The account the answer claims (its user handle), for the sign-in throttles: counted before
    // anything is checked, on the same budget as that account's password sign-ins.
    const claimed = accountOfAssertion(response);
    const account = claimed ? await sspr.directory.findById(claimed) : null;
    const identifier = account?.login ?? 'passkey:unknown';
    const subject = { accountId: account?.id ?? null, context };
    const verdict = guard ? await guard.before(identifier, ctx.ip, subject) : { allowed: true as const };
    if (!verdict.allowed) {
      const time = verdict.until ? formatTime(verdict.until, language(ctx, kit)) : null;
      return flash.redirect(ctx, page, page, { status: 429, messages: [{ id: time ? 'errors:sign_in_blocked_until' : 'errors:sign_in_throttled', type: 'error', params: time ? { time } : undefined }], retryAfter: verdict.retryAfterSeconds });
    }
    let used: string | null = null;
    try {
      used = (await passkeys.method().assert({ purpose: 'sign_in', binding: signInBinding(interaction.uid), response, context })).accountId;
    } catch (err) {
      if (!isSsprError(err)) throw err;
    }
    const checkedAt = Math.floor(Date.now() / 1000);
    const ok = used !== null && account !== null && used === account.id && !account.disabled;
    if (guard) await guard.after(identifier, ctx.ip, ok, context, subject);
    if (!ok || !account) {
      await sspr.audit.record({
        activity: 'auth.sign_in.failed', result: 'failure', reason: !account ? 'unknown_user' : account.disabled ? 'account_disabled' : 'passkey_refused',
        target: account?.login ?? null, targetAccountId: account?.id ?? null, context, details: { method: 'passkey' },
      });
      return flash.redirect(ctx, page, page, { status: 401, messages: [{ id: 'passkey:errors.failed', type: 'error' }] });
    }
    await sspr.audit.record({ activity: 'auth.sign_in.succeeded', result: 'success', target: account.login, targetAccountId: account.id, actor: account.login, context, details: { method: 'passkey' } });
    // RFC 8176: a hardware-bound key, with the user verified by the authenticator.
    await finishSignIn(provider, ctx, { directory: sspr.directory, account, amr: ['hwk', 'user'], checkedAt });
  });

  // ── registration: the register prompt and /account/security ─────────────────────────────────────

  interface Place { accountId: string; binding: string; base: string; clientId?: string; recent: boolean }

  async function interactionPlace(ctx: Context): Promise<Place> {
    const interaction = interactionOf(ctx);
    if (interaction.prompt.name !== 'register') throw badRequest(`prompt is ${interaction.prompt.name}, not register`);
    const current = await interactionSession(provider, sspr.directory, interaction);
    if (!current) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required', 'session ended during the register prompt');
    return { accountId: current.account.id, binding: interaction.uid, base: `/interaction/${interaction.uid}/register`, clientId: String(interaction.params.client_id), recent: true };
  }

  /** As the account page: changes need a sign-in or a password re-entry within the last 10 minutes. */
  async function accountPlace(ctx: Context, flowId: string): Promise<Place> {
    const signedIn = await currentSession(provider, sspr.directory, ctx);
    if (!signedIn) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required');
    const accountId = signedIn.account.id;
    const now = sspr.clock.now().getTime();
    const authTime = signedIn.session.authTime();
    let recent = typeof authTime === 'number' && Math.abs(now - authTime * 1000) <= RECENT_MS;
    if (!recent && flowId) {
      const view = await registration.get(flowId, accountId).catch(() => null);
      recent = view?.reauthAt != null && now - view.reauthAt.getTime() <= RECENT_MS;
    }
    return { accountId, binding: `session:${signedIn.session.uid}`, base: '/account/security', recent };
  }

  function registrationRoutes(prefix: string, pre: Array<(ctx: Context, next: () => Promise<void>) => Promise<void>>, placeOf: (ctx: Context, flowId: string) => Promise<Place>) {
    const step = (ctx: Context, place: Place) => ({ context: requestContext(ctx, place.clientId ? { clientId: place.clientId } : {}), lang: language(ctx, kit) });
    const formOf = async (ctx: Context) => {
      const form = await readForm(ctx);
      const flowId = field(form, 'flow', { max: 64 });
      const place = await placeOf(ctx, flowId);
      if (!kit.csrf.verify(place.binding, form.csrf)) throw csrfFailed();
      return { form, flowId, place };
    };
    const back = (ctx: Context, place: Place, status: number, message: PageMessage) => flash.redirect(ctx, place.base, place.base, { status, messages: [message] });

    router.post(`${prefix}/passkey/options`, ...pre, async (ctx) => {
      const { flowId, place } = await formOf(ctx);
      if (!place.recent) {
        ctx.status = 403;
        ctx.body = { error: 'reauthentication_required' };
        return;
      }
      await options(ctx, () => passkeys.registrationOptions(flowId, place.accountId));
    });

    router.post(`${prefix}/passkey`, ...pre, async (ctx) => {
      const { form, flowId, place } = await formOf(ctx);
      if (!place.recent) return back(ctx, place, 403, { id: 'registration:security.reauth_intro', type: 'error' });
      const response = field(form, 'response', { max: RESPONSE_MAX });
      const name = field(form, 'name', { max: 200, optional: true });
      try {
        await passkeys.register(flowId, place.accountId, { response, name: name || kit.translator.forLanguage(language(ctx, kit))('passkey:default_name'), ...step(ctx, place) });
      } catch (err) {
        if (!isSsprError(err)) throw err;
        return back(ctx, place, err.status, messageOf(ctx, err));
      }
      ctx.status = 303;
      ctx.redirect(`${place.base}?m=added`);
    });

    router.post(`${prefix}/passkey/rename`, ...pre, async (ctx) => {
      const { form, place } = await formOf(ctx);
      const id = field(form, 'passkey', { max: 64 });
      const name = field(form, 'name', { max: 200, optional: true });
      try {
        await passkeys.rename(place.accountId, id, name, step(ctx, place));
      } catch (err) {
        if (!isSsprError(err)) throw err;
        return back(ctx, place, err.status, err.params?.reason === 'name_required' ? { id: 'passkey:errors.name_required', type: 'error' } : messageOf(ctx, err));
      }
      ctx.status = 303;
      ctx.redirect(place.base);
    });
  }

  registrationRoutes('/interaction/:uid/register', [load], (ctx) => interactionPlace(ctx));
  registrationRoutes('/account/security', [], (ctx, flowId) => accountPlace(ctx, flowId));

  // ── the reset's proof ──────────────────────────────────────────────────────────────────────────

  function resetRoutes(prefix: string, pre: Array<(ctx: Context, next: () => Promise<void>) => Promise<void>>) {
    const entryOf = (ctx: Context) => {
      const uid = (ctx.params.uid as string | undefined) ?? null;
      return { uid, base: uid ? `/interaction/${uid}/reset` : '/reset' };
    };
    const request = (ctx: Context) => {
      const clientId = ctx.state.interaction ? String(interactionOf(ctx).params.client_id) : null;
      return { ip: ctx.ip, lang: language(ctx, kit), context: requestContext(ctx, { clientId }) };
    };
    /** The cookie's flow and the form, CSRF checked; null after redirecting to start again. */
    async function flowAndForm(ctx: Context): Promise<{ flow: ResetFlowState; form: Record<string, string>; base: string } | null> {
      const entry = entryOf(ctx);
      let flow: ResetFlowState;
      try {
        flow = await reset.load(ctx.cookies.get(names.resetFlow, { signed: false }), entry.uid);
      } catch (err) {
        if (!isSsprError(err)) throw err;
        ctx.status = 303;
        ctx.redirect(`${entry.base}?expired=1`);
        return null;
      }
      const form = await readForm(ctx);
      if (!kit.csrf.verify(`reset|${flow.id}`, form.csrf)) throw csrfFailed();
      return { flow, form, base: entry.base };
    }

    router.post(`${prefix}/passkey/options`, ...pre, async (ctx) => {
      const got = await flowAndForm(ctx);
      if (!got) return;
      await options(ctx, () => reset.ceremonyOptions(got.flow, request(ctx)));
    });

    router.post(`${prefix}/passkey`, ...pre, async (ctx) => {
      const got = await flowAndForm(ctx);
      if (!got) return;
      const { flow, form, base } = got;
      const response = field(form, 'response', { max: RESPONSE_MAX });
      try {
        const next = await reset.submitCode(flow, response, request(ctx));
        const page = pageOf(next.state);
        ctx.status = 303;
        ctx.redirect(page === 'identifier' ? base : `${base}/${page}`);
      } catch (err) {
        if (!isSsprError(err)) throw err;
        if (err.code === 'flow_expired') {
          ctx.status = 303;
          return ctx.redirect(`${base}?expired=1`);
        }
        const until = err.code === 'throttled' && 'until' in err ? (err as SsprError & { until: Date }).until.toISOString() : undefined;
        flash.redirect(ctx, base, `${base}/code`, { status: err.status, messages: [messageOf(ctx, err)], until });
      }
    });
  }

  resetRoutes('/interaction/:uid/reset', [load]);
  resetRoutes('/reset', []);
  return router;
}
