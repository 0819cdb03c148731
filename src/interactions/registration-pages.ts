import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Language } from '../i18n/index.ts';
import type { SsprDeps } from '../sspr/context.ts';
import { isSsprError, type SsprError, Throttled } from '../sspr/errors.ts';
import type { AccountSecurity } from '../sspr/account-security.ts';
import type { RegistrationFlow, RegistrationView } from '../sspr/flows/registration.ts';
import type { DirectorySession } from '../sspr/ports.ts';
import { formatTime } from '../delivery/messages.ts';
import { cookieNamesFor } from '../provider/cookie-names.ts';
import { presentSessions, formatDate } from './account-sessions.ts';
import { field, readForm } from './body.ts';
import { csrfFailed } from './errors.ts';
import { attachField, fieldErrors, type FieldMessage } from './field-errors.ts';
import { createFlash } from './flash.ts';
import { messageFor } from './method-messages.ts';
import { language, renderPage, requestContext, type PageKit } from './kit.ts';
import type { PageMessage } from './views.ts';

/**
 * What the registration pages share in both places (the sign-in prompt and /account/security):
 * drawing a step, and one POST shape — CSRF, the flow the form was drawn for, the action, then a
 * redirect to a page that answers GET, errors included (flash.ts), so a reload or a language link
 * never posts again (a wrong code reloaded is not another guess).
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
export interface Place {
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

export interface Shown { messages?: FieldMessage[]; status?: number; values?: Record<string, string> }

/** The fields each step's page draws, for field-level errors. */
const FIELDS: Record<string, readonly string[]> = {
  choosing: ['method', 'password'],
  awaiting_target: ['email', 'phone'],
  awaiting_code: ['code'],
  awaiting_secret: ['code'],
  reconfirming: [],
};

export function noStore(ctx: Context, next: Next): Promise<void> {
  ctx.set('Cache-Control', 'no-store');
  return next();
}

/** The configured zone for times on pages (`timezone`, added by the page work; empty: the server's). */
function timeZoneOf(config: SsprDeps['config']): string {
  const zone = (config as { timezone?: unknown }).timezone;
  return typeof zone === 'string' ? zone : '';
}

export function createRegistrationPages(deps: RegistrationRouteDeps) {
  const { provider, kit, sspr, flows } = deps;
  const flash = createFlash(kit.csrf, cookieNamesFor(sspr.config.issuer).flash);
  const zone = timeZoneOf(sspr.config);

  const lang = (ctx: Context): Language => language(ctx, kit);
  const step = (ctx: Context, place: Place) => ({ context: requestContext(ctx, place.clientId ? { clientId: place.clientId } : {}), lang: lang(ctx) });
  const open = (ctx: Context, place: Place) => flows.open({
    accountId: place.accountId,
    binding: place.binding,
    purpose: place.kind === 'interaction' ? 'sign_in' : 'self_service',
    ...step(ctx, place),
  });

  /** Post → redirect → get, with the error for the page to show (next to `fieldName` when given). */
  function backWithError(ctx: Context, place: Place, status: number, messages: PageMessage[], extra: { until?: Date; values?: Record<string, string>; field?: string; to?: string } = {}): void {
    flash.redirect(ctx, place.base, extra.to ?? place.base, { status, messages: attachField(messages, extra.field), until: extra.until?.toISOString(), values: extra.values });
  }

  /** The error a POST left for this GET (status, Retry-After while a block lasts, refilled values). */
  function shown(ctx: Context, place: Place): Shown {
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
    return messageFor(err, lang(ctx));
  }

  function urlsOf(place: Place) {
    return {
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
  }

  /** Draws the page of the flow's current step. */
  async function render(ctx: Context, place: Place, view: RegistrationView, extra: Shown = {}): Promise<void> {
    const l = lang(ctx);
    const t = kit.translator.forLanguage(l);
    const errors = fieldErrors(extra.messages, FIELDS[view.state] ?? []);
    const common = {
      place: place.kind,
      recent: place.recent ?? true,
      view,
      urls: urlsOf(place),
      csrf: kit.csrf.token(place.binding),
      minutes: sspr.config.sspr.code_ttl_minutes,
      values: extra.values ?? {},
      date: (d: Date | null) => formatDate(d, l, zone),
      dateTime: (d: Date | null) => formatDate(d, l, zone, true),
      sessions: place.sessions ? await presentSessions(provider, place.sessions, place.sessionId ?? null, t) : [],
      grantsElsewhere: place.grantsElsewhere ?? 0,
      errors,
      messages: errors.banner,
      status: extra.status,
    };
    switch (view.state) {
      case 'awaiting_target':
        return renderPage(ctx, kit, 'register-target', { ...common, titleKey: `registration:title.${view.replaces ? 'change' : 'target'}_${view.selected}` });
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
   * One POST: CSRF, the flow the form was drawn for, then `action`. Every refusal goes back to the
   * place's page by redirect with its message (next to `opts.field` when the form has one), and the
   * form keeps the typed address or number.
   */
  async function post(
    ctx: Context,
    place: Place,
    action: (view: RegistrationView, form: Record<string, string>) => Promise<void | 'redirect'>,
    opts: { values?: (form: Record<string, string>) => Record<string, string>; needsRecent?: boolean; field?: (view: RegistrationView, form: Record<string, string>) => string | undefined } = {},
  ): Promise<void> {
    const form = await readForm(ctx);
    if (!kit.csrf.verify(place.binding, form.csrf)) throw csrfFailed();
    const view = await open(ctx, place);
    if (field(form, 'flow', { max: 64, optional: true }) !== view.id) {
      // The flow the page was drawn for has ended or expired; show where things stand now.
      return backWithError(ctx, place, 409, [{ id: 'registration:errors.flow_expired', type: 'error' }]);
    }
    if (opts.needsRecent && place.recent === false) {
      return backWithError(ctx, place, 403, [{ id: 'registration:security.reauth_intro', type: 'error' }], { field: 'password' });
    }
    try {
      const result = await action(view, form);
      if (result === 'redirect') redirectTo(ctx, place);
    } catch (err) {
      if (!isSsprError(err)) throw err;
      // A block and an ended flow are about the page, not a field.
      const ofPage = err instanceof Throttled || ['flow_expired', 'flow_invalid', 'not_found'].includes(err.code);
      backWithError(ctx, place, err.status, [errorMessage(ctx, err)], {
        until: err instanceof Throttled ? err.until : undefined,
        values: opts.values?.(form),
        field: ofPage ? undefined : opts.field?.(view, form),
      });
    }
  }

  const dateOf = (ctx: Context, d: Date | null) => formatDate(d, lang(ctx), zone);

  return { flash, lang, step, open, backWithError, shown, render, redirectTo, post, dateOf };
}

export type RegistrationPages = ReturnType<typeof createRegistrationPages>;
