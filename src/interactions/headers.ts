import type { Context, Next } from 'koa';

/**
 * No script on our pages, except files from our own origin on pages that run a passkey ceremony
 * (`ctx.state.scripts`, which fetch their options from us); styles and images from ourselves (QR codes
 * are inline SVG), plus the one origin of an app's registered logo (`ctx.state.imgOrigin`).
 */
const csp = (imgOrigin: string | undefined, scripts: boolean) =>
  `default-src 'none';${scripts ? " script-src 'self'; connect-src 'self';" : ''} style-src 'self'; img-src 'self' data:${imgOrigin ? ` ${imgOrigin}` : ''}; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'`;
const ORIGIN = /^https?:\/\/[a-z0-9.:[\]-]+$/i;

/**
 * The headers every response gets, set before the handler runs. False when they were already set
 * (our server applies them to every request, and the extension's page routes again, since a host's
 * provider may not): the caller that set them also finishes them ({@link finishSecurityHeaders}).
 */
export function startSecurityHeaders(ctx: Context): boolean {
  if (ctx.state.securityHeaders === true) return false;
  ctx.state.securityHeaders = true;
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  // Only over TLS (directly, or behind a proxy with `proxy: true`): browsers ignore it on http.
  if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  return true;
}

/** After the handler: our own pages get their CSP and are never cached. */
export function finishSecurityHeaders(ctx: Context): void {
  // Only our own pages: oidc-provider's form_post page needs its inline script.
  if (ctx.state.page === true) {
    const imgOrigin = typeof ctx.state.imgOrigin === 'string' && ORIGIN.test(ctx.state.imgOrigin) ? ctx.state.imgOrigin : undefined;
    ctx.set('Content-Security-Policy', csp(imgOrigin, ctx.state.scripts === true));
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
  }
}

/** Security headers for every page we render; interaction pages are never cached. */
export async function securityHeaders(ctx: Context, next: Next): Promise<void> {
  if (!startSecurityHeaders(ctx)) return next();
  await next();
  finishSecurityHeaders(ctx);
}
