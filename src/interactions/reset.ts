import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, type PasswordRejected, type SsprError, type Throttled } from '../sspr/errors.ts';
import { pageOf, type ResetFlowService, type ResetFlowState, type ResetRequest } from '../sspr/flows/reset.ts';
import { formatTime } from '../delivery/messages.ts';
import { field, readForm } from './body.ts';
import { createFlash, type Flash } from './flash.ts';
import { PageError, csrfFailed } from './errors.ts';
import { interactionOf, loadInteraction } from './interaction.ts';
import { language, renderErrorPage, renderPage, requestContext, type PageKit } from './kit.ts';
import type { PageMessage } from './views.ts';

/**
 * Forgot-password pages, thin over src/sspr/flows/reset.ts. Two entries with the same steps:
 * `/interaction/:uid/reset…` keeps the OIDC interaction (its cookie's path is the interaction URL) and
 * ends on that interaction's sign-in page; `/reset…` stands alone and ends on a "done" page.
 *
 * Every GET of the first page starts a new flow; the flow id and a browser secret live in an HttpOnly
 * cookie scoped to the entry's path, so a reset in one tab or interaction never disturbs another.
 * Every POST checks a CSRF token bound to the flow. GETs of a step the flow is not at redirect to
 * where it is; POSTs out of order are refused by the flow. Every POST ends in a redirect, errors
 * included (flash.ts): reloading the page after a wrong code shows it again and guesses nothing.
 */

type Step = 'method' | 'target' | 'code' | 'password';

interface Entry {
  base: string;
  uid: string | null;
}

function entryOf(ctx: Context): Entry {
  const uid = (ctx.params.uid as string | undefined) ?? null;
  return { uid, base: uid ? `/interaction/${uid}/reset` : '/reset' };
}

/** Epoch seconds, for the provider's TTL arithmetic. */
const epochTime = (d: Date) => Math.floor(d.getTime() / 1000);

/** `flows` comes from the composition root (src/compose.ts), like every collaborator of a route. */
export function resetRoutes(deps: { provider: Provider; kit: PageKit; sspr: SsprDeps; flows: ResetFlowService }): Router {
  const { provider, kit, sspr, flows } = deps;
  const cookieNames = cookieNamesFor(sspr.config.issuer);
  const COOKIE = cookieNames.resetFlow;
  const router = new Router();
  const load = loadInteraction(provider, kit);
  const helpdesk = sspr.config.sspr.helpdesk;
  const flash = createFlash(kit.csrf, cookieNames.flash);

  const csrfOf = (flow: ResetFlowState) => kit.csrf.token(`reset|${flow.id}`);

  function setCookie(ctx: Context, entry: Entry, value: string | null): void {
    ctx.cookies.set(COOKIE, value ?? '', {
      httpOnly: true,
      sameSite: 'lax',
      secure: ctx.secure,
      signed: false,
      overwrite: true,
      path: entry.base,
      ...(value ? { maxAge: sspr.config.sspr.flow_ttl_minutes * 60_000 } : { maxAge: 0 }),
    });
  }

  function request(ctx: Context): ResetRequest {
    const interaction = ctx.state.interaction ? interactionOf(ctx) : null;
    const clientId = interaction ? String(interaction.params.client_id) : null;
    return { ip: ctx.ip, lang: language(ctx, kit), context: requestContext(ctx, { clientId }) };
  }

  function signInUrl(entry: Entry): string | undefined {
    return entry.uid ? `/interaction/${entry.uid}` : undefined;
  }

  function identifierPage(ctx: Context, entry: Entry, flow: ResetFlowState, extra: { login?: string; messages?: PageMessage[]; status?: number } = {}) {
    renderPage(ctx, kit, 'reset-identifier', {
      titleKey: 'reset:identifier.title', action: entry.base, csrf: csrfOf(flow), signInUrl: signInUrl(entry), ...extra,
    });
  }

  async function stepPage(ctx: Context, entry: Entry, flow: ResetFlowState, step: Step, extra: { messages?: PageMessage[]; status?: number } = {}) {
    const common = { action: `${entry.base}/${step}`, csrf: csrfOf(flow), ...extra };
    const type = flow.data.pending?.type;
    const method = type ? sspr.methods.get(type) : undefined;
    switch (step) {
      case 'method': {
        const offered = (await flows.offeredMethods()).filter((m) => !flow.data.verified.includes(m));
        return renderPage(ctx, kit, 'reset-method', { titleKey: 'reset:method.title', offered, second: flow.data.verified.length > 0, signInUrl: signInUrl(entry), ...common });
      }
      case 'target':
        return renderPage(ctx, kit, 'reset-target', {
          titleKey: 'reset:target.title', type, input: method?.kind === 'target' ? method.profileField : 'email', otherUrl: `${entry.base}/method`, ...common,
        });
      case 'code':
        return renderPage(ctx, kit, 'reset-code', {
          titleKey: 'reset:code.title', type, kind: method?.kind ?? 'target', proofInput: method?.proofInput ?? { digits: true, maxLength: 16 },
          masked: flow.data.pending?.masked ?? '', minutes: sspr.config.sspr.code_ttl_minutes,
          helpdesk, otherUrl: `${entry.base}/method`, ...common,
        });
      case 'password':
        return renderPage(ctx, kit, 'reset-password', { titleKey: 'reset:password.title', rules: flows.passwordRules(), ...common });
    }
  }

  /** The page for a flow's state (GETs at the wrong step land here). */
  function redirectToState(ctx: Context, entry: Entry, flow: ResetFlowState): void {
    const page = pageOf(flow.state);
    ctx.status = 303;
    ctx.redirect(page === 'identifier' ? entry.base : `${entry.base}/${page}`);
  }

  function restart(ctx: Context, entry: Entry): void {
    ctx.status = 303;
    ctx.redirect(`${entry.base}?expired=1`);
  }

  function flowInvalid(ctx: Context, entry: Entry, err: SsprError): void {
    kit.log.info({ code: err.code, detail: err.detail, path: ctx.path }, 'reset step refused');
    renderErrorPage(ctx, kit, new PageError(400, err.code, `errors:sspr.${err.code}`), { restartUrl: entry.base });
  }

  function messageOf(ctx: Context, err: SsprError): PageMessage {
    // A block says when it ends, in the page's language.
    if (err.code === 'throttled') return { id: 'errors:sspr.throttled_until', type: 'error', params: { time: formatTime((err as Throttled).until, language(ctx, kit)) } };
    return { id: `errors:sspr.${err.code}`, type: 'error', params: err.params };
  }

  /** Post → redirect → get: the error goes with the redirect to the page that shows it. */
  function back(ctx: Context, entry: Entry, page: 'identifier' | Step, err: SsprError | null, extra: Omit<Flash, 'status' | 'messages'> & { messages?: PageMessage[] } = {}): void {
    const until = err?.code === 'throttled' ? (err as Throttled).until.toISOString() : undefined;
    flash.redirect(ctx, entry.base, page === 'identifier' ? entry.base : `${entry.base}/${page}`, {
      status: err?.status ?? 400, messages: extra.messages ?? (err ? [messageOf(ctx, err)] : []), login: extra.login, until,
    });
  }

  /** The error a POST left for this GET, with its status (and Retry-After while a block lasts). */
  function shown(ctx: Context, entry: Entry): { messages?: PageMessage[]; status?: number; login?: string } {
    const f = flash.take(ctx, entry.base);
    if (!f) return {};
    if (f.until) {
      const seconds = Math.ceil((Date.parse(f.until) - sspr.clock.now().getTime()) / 1000);
      if (seconds > 0) ctx.set('Retry-After', String(seconds));
    }
    return { messages: f.messages, status: f.status, ...(f.login !== undefined ? { login: f.login } : {}) };
  }

  /** Loads the cookie's flow; expired or missing → start again, another browser's → refused. */
  async function current(ctx: Context, entry: Entry): Promise<ResetFlowState | null> {
    try {
      return await flows.load(ctx.cookies.get(COOKIE, { signed: false }), entry.uid);
    } catch (err) {
      if (isSsprError(err, 'flow_expired')) restart(ctx, entry);
      else if (isSsprError(err, 'flow_invalid')) flowInvalid(ctx, entry, err);
      else throw err;
      return null;
    }
  }

  /** Reads the form and checks its CSRF token against the flow. */
  async function formOf(ctx: Context, flow: ResetFlowState): Promise<Record<string, string>> {
    const form = await readForm(ctx);
    if (!kit.csrf.verify(`reset|${flow.id}`, form.csrf)) throw csrfFailed();
    return form;
  }

  /**
   * Runs one step; errors every step shares become their page: expired → start again, out of order →
   * refused. Others (throttled included) go to `onError`, which redirects back to a page.
   */
  async function step(ctx: Context, entry: Entry, flow: ResetFlowState, run: () => Promise<void>, onError: (err: SsprError) => Promise<void> | void): Promise<void> {
    try {
      await run();
    } catch (err) {
      if (!isSsprError(err)) throw err;
      if (err.code === 'flow_expired') return restart(ctx, entry);
      if (err.code === 'flow_invalid') return flowInvalid(ctx, entry, err);
      kit.log.info({ code: err.code, detail: err.detail, flow: flow.id }, 'reset step refused');
      await onError(err);
    }
  }

  /**
   * STACK.md: the reset revokes the account's sessions. When the interaction points at one of them,
   * finishing it would fail ("session not found"), so it is detached (and the interaction sent back to
   * the sign-in prompt). This runs after the reset committed: a reset that fails leaves the
   * interaction as it was. The revocation deleted the interaction row with the account's grants, and
   * the credentials epoch refuses the session it pointed at anyway; saving the in-memory copy without
   * session and grant writes the interaction back, pointing at nothing old.
   */
  async function detach(ctx: Context, accountId: string | null): Promise<void> {
    const interaction = interactionOf(ctx);
    if (accountId === null || interaction.session?.accountId !== accountId) return;
    interaction.session = undefined;
    interaction.grantId = undefined;
    interaction.prompt = { name: 'login', reasons: ['password_reset'], details: {} };
    await interaction.save(Math.max(1, interaction.exp - epochTime(sspr.clock.now())));
  }

  function routes(prefix: string, pre: Middleware[]) {
    router.get(prefix, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const { flow, cookie } = await flows.start({ interactionUid: entry.uid, lang: language(ctx, kit) });
      setCookie(ctx, entry, cookie);
      const messages: PageMessage[] = ctx.query.expired === '1' ? [{ id: 'errors:sspr.flow_expired', type: 'error' }] : [];
      identifierPage(ctx, entry, flow, { messages, ...shown(ctx, entry) });
    });

    router.post(prefix, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      const form = await formOf(ctx, flow);
      const login = field(form, 'login', { max: 320 });
      if (!login) return back(ctx, entry, 'identifier', null, { messages: [{ id: 'errors:sspr.identifier_required', type: 'error' }] });
      await step(ctx, entry, flow, async () => {
        const next = await flows.submitIdentifier(flow, login, request(ctx));
        redirectToState(ctx, entry, next);
      }, (err) => back(ctx, entry, 'identifier', err, { login }));
    });

    for (const s of ['method', 'target', 'code', 'password'] as const) {
      router.get(`${prefix}/${s}`, ...pre, async (ctx) => {
        const entry = entryOf(ctx);
        const flow = await current(ctx, entry);
        if (!flow) return;
        const at = pageOf(flow.state);
        // The method page is also where the user switches method from the target or code page.
        const switching = s === 'method' && (at === 'target' || at === 'code');
        if (at !== s && !switching) return redirectToState(ctx, entry, flow);
        await stepPage(ctx, entry, flow, s, shown(ctx, entry));
      });
    }

    router.post(`${prefix}/method`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      const form = await formOf(ctx, flow);
      // An unknown value is the flow's MethodNotAllowed, like a method that is not offered.
      const method = field(form, 'method', { max: 32, optional: true }) || 'none';
      await step(ctx, entry, flow, async () => {
        const next = await flows.chooseMethod(flow, method, request(ctx));
        redirectToState(ctx, entry, next);
      }, (err) => back(ctx, entry, 'method', err));
    });

    router.post(`${prefix}/target`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      const form = await formOf(ctx, flow);
      const target = field(form, 'target', { max: 320 });
      await step(ctx, entry, flow, async () => {
        const next = await flows.submitTarget(flow, target, request(ctx));
        redirectToState(ctx, entry, next);
      }, (err) => back(ctx, entry, flow.state === 'awaiting_target' ? 'target' : 'method', err));
    });

    router.post(`${prefix}/code`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      const form = await formOf(ctx, flow);
      const code = field(form, 'code', { max: 16 });
      await step(ctx, entry, flow, async () => {
        const next = await flows.submitCode(flow, code, request(ctx));
        redirectToState(ctx, entry, next);
      }, (err) => back(ctx, entry, 'code', err));
    });

    router.post(`${prefix}/password`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      const form = await formOf(ctx, flow);
      // Not trimmed, generous limit: the policy (not the form parser) says "too long", with its reason.
      const password = field(form, 'new_password', { max: 4096, trim: false });
      const confirmation = field(form, 'confirm_password', { max: 4096, trim: false });
      await step(ctx, entry, flow, async () => {
        const done = await flows.submitPassword(flow, { password, confirmation }, request(ctx));
        if (entry.uid) await detach(ctx, done.accountId);
        ctx.status = 303;
        ctx.redirect(`${entry.base}/done`);
      }, (err) => {
        const rules = flows.passwordRules();
        const params = { min: rules.minLength, max: rules.maxLength };
        const messages: PageMessage[] = err.code === 'password_rejected'
          ? (err as PasswordRejected).failed.map((rule) => ({ id: `errors:sspr.password.${rule}`, type: 'error', params }))
          : [messageOf(ctx, err)];
        back(ctx, entry, 'password', err, { messages });
      });
    });

    router.get(`${prefix}/done`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      if (flow.state !== 'done') return redirectToState(ctx, entry, flow);
      setCookie(ctx, entry, null);
      if (!entry.uid) return renderPage(ctx, kit, 'reset-done', { titleKey: 'reset:done.title' });
      // Back on this interaction's sign-in page — ours or an embedding host's own: nobody is signed
      // in by a reset (OWASP), the user signs in with the new password.
      ctx.status = 303;
      ctx.redirect(`/interaction/${entry.uid}?reset=done`);
    });
  }

  routes('/interaction/:uid/reset', [load]);
  routes('/reset', []);
  return router;
}
