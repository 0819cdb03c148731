import type { Context } from 'koa';
import { fromAcceptLanguage, isLanguage, type Language } from '../i18n/index.ts';

export const LANG_COOKIE = 'oidc_sspr_lang';

/**
 * The page language: the OIDC `ui_locales` of the request, then `?lang=` (remembered in a cookie),
 * then that cookie, then Accept-Language, then the configured default.
 */
export function resolveLanguage(ctx: Context, fallback: Language, uiLocales?: unknown): Language {
  if (typeof uiLocales === 'string') {
    for (const tag of uiLocales.split(' ')) {
      const base = tag.split('-')[0].toLowerCase();
      if (isLanguage(base)) return base;
    }
  }
  const q = ctx.query.lang;
  if (isLanguage(q)) {
    ctx.cookies.set(LANG_COOKIE, q, { httpOnly: true, sameSite: 'lax', signed: false, maxAge: 365 * 86_400_000, secure: ctx.secure });
    return q;
  }
  const c = ctx.cookies.get(LANG_COOKIE, { signed: false });
  if (isLanguage(c)) return c;
  return fromAcceptLanguage(ctx.get('accept-language')) ?? fallback;
}
