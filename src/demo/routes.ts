import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { ClientConfig, Config } from '../config/schema.ts';
import { renderPage, type PageKit } from '../interactions/kit.ts';

const COOKIE = 'demo_rp';

/** The demo app is served when `demo: true` and a client `demo-app` may return to this issuer's /demo/callback. */
export function demoClientOf(config: Config): ClientConfig | undefined {
  if (!config.demo) return undefined;
  return config.clients.find((c) => c.client_id === 'demo-app' && c.redirect_uris.includes(`${config.issuer}/demo/callback`));
}

/**
 * A tiny relying app served by `npm start` when `demo: true`, so a fresh clone can be clicked
 * through: sign in with code + PKCE, see the ID token claims and userinfo, sign out. It talks to the
 * provider over HTTP like any other client would; it is not used in production configurations.
 */
export function demoRoutes(config: Config, client: ClientConfig, kit: PageKit): Router {
  const router = new Router();
  const redirectUri = `${config.issuer}/demo/callback`;
  const b64 = (b: Buffer) => b.toString('base64url');

  router.get('/demo', (ctx) => {
    renderPage(ctx, kit, 'demo', { titleKey: 'pages:demo.title', claims: null, userinfo: null, signInUrl: '/demo/login' });
  });

  router.get('/demo/login', (ctx) => {
    const verifier = b64(randomBytes(32));
    const state = b64(randomBytes(16));
    ctx.cookies.set(COOKIE, `${verifier}.${state}`, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 600_000 });
    const url = new URL(`${config.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      response_type: 'code',
      scope: 'openid profile email phone',
      redirect_uri: redirectUri,
      code_challenge: b64(createHash('sha256').update(verifier).digest()),
      code_challenge_method: 'S256',
      state,
    }).toString();
    ctx.redirect(url.toString());
  });

  router.get('/demo/callback', async (ctx) => {
    const [verifier, state] = (ctx.cookies.get(COOKIE, { signed: true }) ?? '').split('.');
    if (!verifier || ctx.query.state !== state || typeof ctx.query.code !== 'string') {
      ctx.redirect('/demo');
      return;
    }
    ctx.cookies.set(COOKIE, null);
    const auth = Buffer.from(`${client.client_id}:${client.client_secret ?? ''}`).toString('base64');
    const res = await fetch(`${config.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${auth}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: ctx.query.code, redirect_uri: redirectUri, code_verifier: verifier }),
    });
    const tokens = (await res.json()) as { id_token?: string; access_token?: string };
    if (!tokens.id_token || !tokens.access_token) {
      ctx.redirect('/demo');
      return;
    }
    // Straight from the token endpoint over our own back channel, so decoding without verifying is enough here.
    const claims = JSON.parse(Buffer.from(tokens.id_token.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
    const userinfo = (await (await fetch(`${config.issuer}/me`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json()) as Record<string, unknown>;
    const logoutUrl = `${config.issuer}/session/end?${new URLSearchParams({ id_token_hint: tokens.id_token, post_logout_redirect_uri: `${config.issuer}/demo` })}`;
    renderPage(ctx, kit, 'demo', { titleKey: 'pages:demo.title', claims, userinfo, signInUrl: '/demo/login', logoutUrl });
  });
  return router;
}
