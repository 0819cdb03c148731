import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { formatTime } from '../delivery/messages.ts';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import type { LoginResultEpoch } from '../provider/credentials-epoch.ts';
import type { RememberBrowser } from '../provider/mfa-remember.ts';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, type SsprError, type Throttled } from '../sspr/errors.ts';
import type { SecondFactor, SecondFactorOption, SecondFactorRequest } from '../sspr/flows/second-factor.ts';
import { ACR_MFA } from '../sspr/mfa-policy.ts';
import { field, readForm } from './body.ts';
import { badRequest, csrfFailed, PageError } from './errors.ts';
import { createFlash } from './flash.ts';
import { finishPrompt, interactionOf, loadInteraction } from './interaction.ts';
import { language, renderPage, requestContext, type PageKit } from './kit.ts';
import { interactionSession } from './signed-in.ts';
import type { PageMessage } from './views.ts';

/**
 * The `mfa` prompt's pages (src/provider/mfa-prompt.ts), one per step, under the interaction URL:
 *   GET/POST /interaction/:uid/mfa            choose a method (radios); a target method sends its code
 *   GET/POST /interaction/:uid/mfa/:method    type the code (or send a new one)
 * Every post redirects (errors too, through the flash cookie), so a reload never posts a code again.
 * Each request checks that the interaction is at the `mfa` prompt and that its session still holds
 * (credentials epoch): a post to a later step, or from a parked interaction, finishes nothing.
 * Routes stay thin: the domain (src/sspr/flows/second-factor.ts) counts, checks and audits.
 */

export interface MfaRouteDeps {
  provider: Provider;
  kit: PageKit;
  sspr: SsprDeps;
  secondFactor: SecondFactor;
  remember: RememberBrowser;
}

function noStore(ctx: Context, next: Next): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  return next();
}

export function mfaRoutes(deps: MfaRouteDeps): Router {
  const { provider, kit, sspr, secondFactor, remember } = deps;
  const router = new Router();
  const load = loadInteraction(provider, kit);
  const flash = createFlash(kit.csrf, cookieNamesFor(sspr.config.issuer).flash);

  /** The interaction at its `mfa` prompt, with the session and account it belongs to. */
  async function placeOf(ctx: Context) {
    const interaction = interactionOf(ctx);
    const base = `/interaction/${interaction.uid}/mfa`;
    if (interaction.prompt.name !== 'mfa') {
      if (ctx.method === 'GET') {
        ctx.redirect(`/interaction/${interaction.uid}`);
        return null;
      }
      throw badRequest(`prompt is ${interaction.prompt.name}, not mfa`);
    }
    const current = await interactionSession(provider, sspr.directory, interaction);
    if (!current) throw new PageError(401, 'sign_in_required', 'registration:security.sign_in_required', 'session ended during the second step');
    return { interaction, base, session: current.session, account: current.account };
  }

  function requestOf(ctx: Context, place: NonNullable<Awaited<ReturnType<typeof placeOf>>>): SecondFactorRequest {
    return {
      account: place.account,
      bind: place.interaction.uid,
      ip: ctx.ip,
      context: requestContext(ctx, { clientId: String(place.interaction.params.client_id) }),
      lang: language(ctx, kit),
    };
  }

  function messageOf(ctx: Context, err: SsprError): PageMessage {
    if (err.code === 'throttled') return { id: 'mfa:errors.blocked_until', type: 'error', params: { time: formatTime((err as Throttled).until, language(ctx, kit)) } };
    if (err.code === 'code_invalid') return { id: 'mfa:errors.code_invalid', type: 'error' };
    return { id: `errors:sspr.${err.code}`, type: 'error', params: err.params };
  }

  function back(ctx: Context, path: string, err: SsprError): void {
    flash.redirect(ctx, path, path, {
      status: err.status, messages: [messageOf(ctx, err)], until: err.code === 'throttled' ? (err as Throttled).until.toISOString() : undefined,
    });
  }

  /** The error (or notice) a POST left for this page; Retry-After while a block lasts. */
  function shown(ctx: Context, path: string): { messages: PageMessage[]; status?: number } {
    const f = flash.take(ctx, path);
    if (!f) return { messages: [] };
    if (f.until) {
      const seconds = Math.ceil((Date.parse(f.until) - sspr.clock.now().getTime()) / 1000);
      if (seconds > 0) ctx.set('Retry-After', String(seconds));
    }
    return { messages: f.messages, status: f.status };
  }

  async function readChecked(ctx: Context): Promise<Record<string, string>> {
    const form = await readForm(ctx);
    if (!kit.csrf.verify(interactionOf(ctx).uid, form.csrf)) throw csrfFailed();
    return form;
  }

  const optionView = (o: SecondFactorOption) => ({ id: o.method.id, masked: o.masked });

  router.get('/interaction/:uid/mfa', noStore, load, async (ctx) => {
    const place = await placeOf(ctx);
    if (!place) return;
    const options = await secondFactor.options(place.account.id);
    const f = shown(ctx, place.base);
    renderPage(ctx, kit, 'mfa-choose', {
      titleKey: 'mfa:choose.title',
      action: place.base,
      abortUrl: `/interaction/${place.interaction.uid}/abort`,
      csrf: kit.csrf.token(place.interaction.uid),
      options: options.map(optionView),
      messages: f.messages,
      status: f.status,
    });
  });

  router.post('/interaction/:uid/mfa', noStore, load, async (ctx) => {
    const form = await readChecked(ctx);
    const place = await placeOf(ctx);
    if (!place) return;
    const id = field(form, 'method', { max: 64 });
    const option = (await secondFactor.options(place.account.id)).find((o) => o.method.id === id);
    if (!option) throw badRequest(`second factor ${id || '(none)'} not offered`);
    if (option.method.kind === 'target') {
      try {
        await secondFactor.sendCode(requestOf(ctx, place), id);
      } catch (err) {
        if (!isSsprError(err)) throw err;
        return back(ctx, place.base, err);
      }
    }
    ctx.status = 303;
    ctx.redirect(`${place.base}/${encodeURIComponent(id)}`);
  });

  // A ceremony's options (a passkey's challenge) for the page's script: JSON, errors as a code.
  router.post('/interaction/:uid/mfa/:method/options', noStore, load, async (ctx) => {
    await readChecked(ctx);
    const place = await placeOf(ctx);
    if (!place) return;
    try {
      ctx.body = await secondFactor.ceremonyOptions(requestOf(ctx, place), ctx.params.method);
    } catch (err) {
      if (!isSsprError(err)) throw err;
      ctx.status = err.status;
      ctx.body = { error: err.code };
    }
  });

  router.get('/interaction/:uid/mfa/:method', noStore, load, async (ctx) => {
    const place = await placeOf(ctx);
    if (!place) return;
    const option = (await secondFactor.options(place.account.id)).find((o) => o.method.id === ctx.params.method);
    if (!option) {
      ctx.redirect(place.base);
      return;
    }
    const path = `${place.base}/${option.method.id}`;
    const f = shown(ctx, path);
    const errors = f.messages.filter((m) => m.type === 'error');
    renderPage(ctx, kit, 'mfa-code', {
      titleKey: 'mfa:code.title',
      action: path,
      otherUrl: place.base,
      abortUrl: `/interaction/${place.interaction.uid}/abort`,
      csrf: kit.csrf.token(place.interaction.uid),
      kind: option.method.kind,
      type: option.method.id,
      masked: option.masked,
      minutes: sspr.config.sspr.code_ttl_minutes,
      proofInput: option.method.proofInput,
      rememberDays: sspr.config.mfa.remember_days,
      // The error sits beside the field it names (aria-describedby); notices go to the top.
      fieldError: errors[0] ?? null,
      messages: f.messages.filter((m) => m.type !== 'error'),
      status: f.status,
    });
  });

  router.post('/interaction/:uid/mfa/:method', noStore, load, async (ctx) => {
    const form = await readChecked(ctx);
    const place = await placeOf(ctx);
    if (!place) return;
    const id = ctx.params.method;
    const option = (await secondFactor.options(place.account.id)).find((o) => o.method.id === id);
    if (!option) throw badRequest(`second factor ${id} not offered`);
    const path = `${place.base}/${option.method.id}`;
    const req = requestOf(ctx, place);
    if (form.resend === 'yes' && option.method.kind === 'target') {
      try {
        await secondFactor.sendCode(req, id);
      } catch (err) {
        if (!isSsprError(err)) throw err;
        return back(ctx, path, err);
      }
      return flash.redirect(ctx, path, path, { status: 200, messages: [{ id: 'mfa:errors.sent', type: 'success' }] });
    }
    // A ceremony posts the browser's answer (JSON) where a code would be typed.
    const code = option.method.kind === 'ceremony' ? field(form, 'response', { max: 16_384 }) : field(form, 'code', { max: 64 });
    let amr: string[];
    try {
      ({ amr } = await secondFactor.verify({ ...req, firstAmr: place.session.amr }, id, code));
    } catch (err) {
      if (!isSsprError(err)) throw err;
      return back(ctx, path, err);
    }
    const days = sspr.config.mfa.remember_days;
    if (days > 0 && form.remember === 'yes') remember.set(ctx, place.account, option.method.amr ?? [], days);
    // The password's time stays `auth_time`: `max_age` counts from the first factor, so both are fresh.
    const login: LoginResultEpoch & { ts: number; amr: string[]; acr: string; remember: boolean } = {
      accountId: place.account.id,
      ts: place.session.loginTs ?? Math.floor(sspr.clock.now().getTime() / 1000),
      amr,
      acr: ACR_MFA,
      remember: !place.session.transient,
      credentialsEpoch: place.account.credentialsEpoch,
    };
    await finishPrompt(provider, ctx, { login });
  });

  return router;
}
