import type { Context } from 'koa';
import type { Csrf } from './csrf.ts';
import type { PageMessage } from './views.ts';

/**
 * Forms post, then redirect — errors included (INTERFACE.md). The error travels to the GET in a
 * short-lived cookie on the form's path, so a reload shows the page again instead of posting the
 * form again: a wrong code reloaded is not another guess, a target reloaded sends no second code.
 *
 * The cookie is MAC'd with the cookie keys (the CSRF helper's HMAC, bound to the path), so nobody
 * can make the page show messages it did not produce; it holds message ids and their parameters
 * (a time, a limit), never what the user typed except the user id the identifier page refills.
 */
export interface Flash {
  status: number;
  messages: PageMessage[];
  /** The identifier page refills its field. */
  login?: string;
  /** A form refills the address or number typed (never a code or password). */
  values?: Record<string, string>;
  /** End of a block, for Retry-After on the page that shows it. */
  until?: string;
  /** Seconds until then, as counted when the POST was refused (where no clock reaches the GET). */
  retryAfter?: number;
}

const MAX_AGE_MS = 5 * 60_000;

export function createFlash(csrf: Csrf, cookieName: string) {
  const binding = (path: string, payload: string) => `flash|${path}|${payload}`;
  const options = (ctx: Context, path: string, maxAge: number) => ({
    httpOnly: true, sameSite: 'lax' as const, secure: ctx.secure, signed: false, overwrite: true, path, maxAge,
  });

  return {
    /** Keeps `flash` for the next GET under `path`, and redirects there (303). */
    redirect(ctx: Context, path: string, to: string, flash: Flash): void {
      const payload = Buffer.from(JSON.stringify(flash)).toString('base64url');
      ctx.cookies.set(cookieName, `${payload}.${csrf.token(binding(path, payload))}`, options(ctx, path, MAX_AGE_MS));
      ctx.status = 303;
      ctx.redirect(to);
    },

    /** The flash kept for this path, once (it is cleared as it is read); null when none or forged. */
    take(ctx: Context, path: string): Flash | null {
      const raw = ctx.cookies.get(cookieName, { signed: false });
      if (!raw) return null;
      ctx.cookies.set(cookieName, '', options(ctx, path, 0));
      const [payload, mac, ...rest] = raw.split('.');
      if (!payload || rest.length > 0 || !csrf.verify(binding(path, payload), mac)) return null;
      try {
        const flash = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Flash;
        return Number.isInteger(flash.status) && Array.isArray(flash.messages) ? flash : null;
      } catch {
        return null;
      }
    },
  };
}
