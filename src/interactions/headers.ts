import type { Context, Next } from 'koa';

/**
 * No script on our pages, except files from our own origin on pages that run a passkey ceremony
 * (`ctx.state.scripts`, which fetch their options from us); styles and images from ourselves (QR codes
 * are inline SVG), plus the one origin of an app's registered logo (`ctx.state.imgOrigin`).
 */
const csp = (imgOrigin: string | undefined, scripts: boolean) =>
  `default-src 'none';${scripts ? " script-src 'self'; connect-src 'self';" : ''} style-src 'self'; img-src 'self' data:${imgOrigin ? ` ${imgOrigin}` : ''}; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'`;
const ORIGIN = /^https?:\/\/[a-z0-9.:[\]-]+$/i;

/** Security headers for every page we render; interaction pages are never cached. */
export async function securityHeaders(ctx: Context, next: Next): Promise<void> {
  // Our server applies these to every request, and the extension's page routes again (a host's
  // provider may not): once is enough.
  if (ctx.state.securityHeaders === true) return next();
  ctx.state.securityHeaders = true;
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  // Only over TLS (directly, or behind a proxy with `proxy: true`): browsers ignore it on http.
  if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  await next();
  // Only our own pages: oidc-provider's form_post page needs its inline script.
  if (ctx.state.page === true) {
    const imgOrigin = typeof ctx.state.imgOrigin === 'string' && ORIGIN.test(ctx.state.imgOrigin) ? ctx.state.imgOrigin : undefined;
    ctx.set('Content-Security-Policy', csp(imgOrigin, ctx.state.scripts === true));
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
  }
}
