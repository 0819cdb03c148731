import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import type Provider from 'oidc-provider';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, type PasswordRejected, type SsprError, type Throttled } from '../sspr/errors.ts';
import { pageOf, type ResetFlowService, type ResetFlowState, type ResetRequest } from '../sspr/flows/reset.ts';
import { field, readForm } from './body.ts';
import { createFlash, type Flash } from './flash.ts';
import { PageError, csrfFailed } from './errors.ts';
import { interactionOf, loadInteraction, rememberedLogin, rememberLogin } from './interaction.ts';
import { language, pageTime, renderErrorPage, renderPage, requestContext, type PageKit } from './kit.ts';
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

/** The format a phone number is asked in (INTERFACE.md, issue 18). */
const PHONE_EXAMPLE = '+31 6 12345678';

/** Which field of a step's form an error is about (it is shown beside it); none: the banner. */
const FIELD_OF: Record<string, string> = {
  identifier_required: 'login', method_invalid_target: 'target', number_not_mobile: 'target',
  code_invalid: 'code', code_expired: 'code', code_used: 'code', too_many_attempts: 'code', method_not_allowed: 'method',
};

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
    // The name typed at sign-in, carried in the interaction (never in a URL).
    const login = extra.login ?? (entry.uid ? rememberedLogin(interactionOf(ctx)) : '');
    renderPage(ctx, kit, 'reset-identifier', {
      titleKey: 'reset:identifier.title', action: entry.base, csrf: csrfOf(flow), signInUrl: signInUrl(entry), ...extra, login,
    });
  }

  /** The account's login for the new-password form's username field (password managers). */
  async function loginOf(flow: ResetFlowState): Promise<string> {
    return flow.accountId ? ((await sspr.directory.findById(flow.accountId))?.login ?? '') : '';
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
          // "Send a new code" where a code was sent to a target typed in this flow.
          resendUrl: method?.kind === 'target' && flow.data.pending?.target !== undefined ? `${entry.base}/code/resend` : null,
          helpdesk, otherUrl: `${entry.base}/method`, ...common,
        });
      case 'password':
        return renderPage(ctx, kit, 'reset-password', { titleKey: 'reset:password.title', rules: flows.passwordRules(), username: await loginOf(flow), ...common });
    }
  }

  /** The page for a flow's state (GETs at the wrong step land here). */
  function redirectToState(ctx: Context, entry: Entry, flow: ResetFlowState): void {
    const page = pageOf(flow.state);
    ctx.status = 303;
    // A language link that landed on another step keeps its language.
    const lang = ctx.method === 'GET' && typeof ctx.query.lang === 'string' ? `?${new URLSearchParams({ lang: ctx.query.lang })}` : '';
    ctx.redirect(`${page === 'identifier' ? entry.base : `${entry.base}/${page}`}${lang}`);
  }

  function restart(ctx: Context, entry: Entry): void {
    ctx.status = 303;
    ctx.redirect(`${entry.base}?expired=1`);
  }

  function flowInvalid(ctx: Context, entry: Entry, err: SsprError): void {
    kit.log.info({ code: err.code, detail: err.detail, path: ctx.path }, 'reset step refused');
    renderErrorPage(ctx, kit, new PageError(400, err.code, `errors:sspr.${err.code}`), { restartUrl: entry.base });
  }

  /** The allowed SMS countries by name, in the page's language ("Netherlands, Belgium and Germany"). */
  function countryNames(ctx: Context): string {
    const lang = language(ctx, kit);
    const names = new Intl.DisplayNames([lang], { type: 'region' });
    const list = sspr.config.delivery.sms.allowed_countries.map((c) => names.of(c.toUpperCase()) ?? c);
    return new Intl.ListFormat(lang, { style: 'long', type: 'conjunction' }).format(list);
  }

  function messageOf(ctx: Context, err: SsprError, flow?: ResetFlowState): PageMessage {
    // A block says when it ends, in the page's language and the configured time zone.
    if (err.code === 'throttled') return { id: 'errors:sspr.throttled_until', type: 'error', params: { time: pageTime(ctx, kit, (err as Throttled).until) } };
    const field = FIELD_OF[err.code];
    const at = field ? { field } : {};
    // A code from an earlier message is still a wrong guess, but the user learns why.
    if (err.code === 'code_invalid' && err.params?.replaced === true) return { id: 'errors:sspr.code_replaced', type: 'error', ...at };
    // A phone number names the format asked for and where SMS may go.
    if ((err.code === 'method_invalid_target' || err.code === 'number_not_mobile') && flow?.data.pending?.type === 'sms') {
      const id = err.code === 'number_not_mobile' ? 'errors:sspr.number_not_mobile' : 'errors:sspr.phone_invalid';
      return { id, type: 'error', params: { example: PHONE_EXAMPLE, countries: countryNames(ctx) }, ...at };
    }
    return { id: `errors:sspr.${err.code}`, type: 'error', params: err.params, ...at };
  }

  /** Post → redirect → get: the error goes with the redirect to the page that shows it. */
  function back(ctx: Context, entry: Entry, page: 'identifier' | Step, err: SsprError | null, extra: Omit<Flash, 'status' | 'messages'> & { messages?: PageMessage[]; flow?: ResetFlowState; status?: number } = {}): void {
    const until = err?.code === 'throttled' ? (err as Throttled).until.toISOString() : undefined;
    flash.redirect(ctx, entry.base, page === 'identifier' ? entry.base : `${entry.base}/${page}`, {
      status: extra.status ?? err?.status ?? 400, messages: extra.messages ?? (err ? [messageOf(ctx, err, extra.flow)] : []), login: extra.login, until,
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
      if (!login) return back(ctx, entry, 'identifier', null, { messages: [{ id: 'errors:sspr.identifier_required', type: 'error', field: 'login' }] });
      if (entry.uid) await rememberLogin(interactionOf(ctx), login);
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
      }, (err) => back(ctx, entry, flow.state === 'awaiting_target' ? 'target' : 'method', err, { flow }));
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
      }, (err) => back(ctx, entry, 'code', err, { flow }));
    });

    // "Send a new code": a form of its own on the code page; back to the code page with a notice
    // (the same for every identifier), or with when the send throttle ends.
    router.post(`${prefix}/code/resend`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (!flow) return;
      await formOf(ctx, flow);
      await step(ctx, entry, flow, async () => {
        await flows.resendCode(flow, request(ctx));
        back(ctx, entry, 'code', null, { status: 200, messages: [{ id: 'reset:code.resent', type: 'success', params: { masked: flow.data.pending?.masked ?? '' } }] });
      }, (err) => back(ctx, entry, 'code', err, { flow }));
    });
    router.get(`${prefix}/code/resend`, ...pre, async (ctx) => {
      const entry = entryOf(ctx);
      const flow = await current(ctx, entry);
      if (flow) redirectToState(ctx, entry, flow);
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
        if (entry.uid) {
          await detach(ctx, done.accountId);
          // Back on the sign-in page with the account's name filled in.
          await rememberLogin(interactionOf(ctx), await loginOf(done));
        }
        ctx.status = 303;
        ctx.redirect(`${entry.base}/done`);
      }, (err) => {
        const rules = flows.passwordRules();
        const params = { min: rules.minLength, max: rules.maxLength };
        const messages: PageMessage[] = err.code === 'password_rejected'
          ? (err as PasswordRejected).failed.map((rule) => ({ id: `errors:sspr.password.${rule}`, type: 'error', params, field: rule === 'mismatch' ? 'confirm-password' : 'new-password' }))
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
      // Stand-alone: a way on — our own sign-in to the security info where the server has one.
      if (!entry.uid) return renderPage(ctx, kit, 'reset-done', { titleKey: 'reset:done.title', signInUrl: kit.accountSignInUrl ?? null });
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
