import type { Context, Next } from 'koa';

/** No script at all on our pages; styles and images from ourselves (QR codes are inline SVG). */
const CSP = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'";
/** Pages that run a passkey ceremony (`ctx.state.scripts`): script files from our own origin, which fetch their options from it. */
const CSP_SCRIPTS = CSP.replace("default-src 'none';", "default-src 'none'; script-src 'self'; connect-src 'self';");

/** Security headers for every page we render; interaction pages are never cached. */
export async function securityHeaders(ctx: Context, next: Next): Promise<void> {
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  // Only over TLS (directly, or behind a proxy with `proxy: true`): browsers ignore it on http.
  if (ctx.secure) ctx.set('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  await next();
  // Only our own pages: oidc-provider's form_post page needs its inline script.
  if (ctx.state.page === true) {
    ctx.set('Content-Security-Policy', ctx.state.scripts === true ? CSP_SCRIPTS : CSP);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Pragma', 'no-cache');
  }
}
