import type { Context } from 'koa';
import type { Logger } from 'pino';
import type { RequestContext } from '../audit/index.ts';
import type { Config } from '../config/schema.ts';
import type { Language, Translator } from '../i18n/index.ts';
import type { Csrf } from './csrf.ts';
import type { AppError } from '../errors.ts';
import { formatTime } from '../delivery/messages.ts';
import { LANGUAGES } from '../i18n/index.ts';
import { resolveLanguage } from './language.ts';
import type { PageMessage, Views } from './views.ts';

/** What every route needs to answer with a page. Built once in the composition root. */
export interface PageKit {
  config: Config;
  views: Views;
  translator: Translator;
  csrf: Csrf;
  log: Logger;
  /** Where a signed-out visitor of /account/security can sign in (our server has one; a host may not). */
  accountSignInUrl?: string;
  /** True when the sign-in page offers "Sign in with a passkey". */
  passkeySignIn?: boolean;
}

export function language(ctx: Context, kit: PageKit, uiLocales?: unknown): Language {
  const cached = ctx.state.lang as Language | undefined;
  if (cached && uiLocales === undefined) return cached;
  const lang = resolveLanguage(ctx, kit.config.language, uiLocales);
  ctx.state.lang = lang;
  return lang;
}

/** A time on a page (a block's end): in the page's language and the configured `timezone`. */
export function pageTime(ctx: Context, kit: PageKit, time: Date): string {
  return formatTime(time, language(ctx, kit), kit.config.timezone);
}

/** A path of plain segments and no query: its language links need no URL parsing. */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]+)+$/;

/**
 * The language links' targets: this page's address with `lang` set, keeping its other parameters.
 * They must answer GET: a page rendered as the answer to a POST (an error) names the page to go to
 * instead (`getUrl`), else its own path, whose GET our routes answer with the page in progress.
 */
export function languageLinks(ctx: Context, getUrl?: string): Record<string, string> {
  const base = getUrl ?? (ctx.method === 'GET' || ctx.method === 'HEAD' ? ctx.url : ctx.path);
  // Most pages have a plain path and no query: the links are that path and `?lang=…`, exactly what
  // the URL parser below makes of it, without parsing a URL on every page.
  if (PLAIN_PATH.test(base)) return Object.fromEntries(LANGUAGES.map((l) => [l, `${base}?lang=${l}`]));
  return parsedLanguageLinks(base);
}

/** The language links of any address (its other parameters kept), by the URL parser. */
export function parsedLanguageLinks(base: string): Record<string, string> {
  const url = new URL(base, 'http://x');
  const out: Record<string, string> = {};
  for (const l of LANGUAGES) {
    url.searchParams.set('lang', l);
    out[l] = `${url.pathname}${url.search}`;
  }
  return out;
}

/** Renders one of our pages; the title is a `pages:` key. Marks the response for our CSP. */
export function renderPage(
  ctx: Context,
  kit: PageKit,
  view: string,
  data: { titleKey: string; messages?: PageMessage[]; status?: number; getUrl?: string; [key: string]: unknown },
): void {
  const lang = language(ctx, kit);
  const t = kit.translator.forLanguage(lang);
  const { titleKey, status, getUrl, ...rest } = data;
  ctx.state.page = true;
  ctx.status = status ?? 200;
  ctx.type = 'html';
  // A partial that runs a ceremony calls `allowScripts()`: only that page's CSP lets our own scripts run.
  const allowScripts = () => {
    ctx.state.scripts = true;
    return '';
  };
  ctx.body = kit.views.render(view, { ...rest, lang, t, title: t(titleKey), languageLinks: languageLinks(ctx, getUrl), allowScripts });
}

/** An error page: its message, and the ways on (`links`, a PageError's or the caller's). */
export function renderErrorPage(ctx: Context, kit: PageKit, err: AppError, extra: Record<string, unknown> = {}): void {
  const links = (err as AppError & { links?: unknown }).links;
  renderPage(ctx, kit, 'error', {
    titleKey: 'pages:error.title',
    status: err.status,
    code: err.code,
    messageId: err.messageId,
    params: err.params ?? {},
    ...(Array.isArray(links) ? { links } : {}),
    ...extra,
  });
}

/** Who/where of this request, for audit events. Links and addresses never come from the Host header. */
export function requestContext(ctx: Context, extra: Partial<RequestContext> = {}): RequestContext {
  return {
    ip: ctx.ip,
    userAgent: ctx.get('user-agent').slice(0, 400) || null,
    correlationId: (ctx.state.correlationId as string | undefined) ?? null,
    language: (ctx.state.lang as string | undefined) ?? null,
    ...extra,
  };
}
