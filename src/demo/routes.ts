import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { ClientConfig, Config } from '../config/schema.ts';
import { renderPage, type PageKit } from '../interactions/kit.ts';

const COOKIE = 'demo_rp';

export const DEMO_CLIENT_ID = 'demo-app';

/** The demo app is served when `demo: true` and a client `demo-app` may return to this issuer's /demo/callback. */
export function demoClientOf(config: Config): ClientConfig | undefined {
  if (!config.demo) return undefined;
  return config.clients.find((c) => c.client_id === DEMO_CLIENT_ID && c.redirect_uris.includes(`${config.issuer}/demo/callback`));
}

const isLocal = (url: string) => ['localhost', '127.0.0.1', '[::1]'].includes(new URL(url).hostname);

/**
 * `npm start` with another issuer (`OIDC_SSPR_ISSUER=http://localhost:3999 PORT=3999`): the shipped
 * demo client still names localhost:3000 as its return address. On a local issuer the demo's own
 * return addresses (`…/demo/callback`, `…/demo` on a local host) follow the issuer, so /demo works
 * wherever the clone runs. On a public issuer nothing is rewritten — a client's addresses are the
 * admin's to give — and `note` says in one line why /demo is off.
 */
export function demoFollowsIssuer(config: Config): { config: Config; note: string | null } {
  if (!config.demo) return { config, note: null };
  const client = config.clients.find((c) => c.client_id === DEMO_CLIENT_ID);
  const callback = `${config.issuer}/demo/callback`;
  if (!client) return { config, note: `demo: true, but no client "${DEMO_CLIENT_ID}" is configured: /demo is off` };
  if (client.redirect_uris.includes(callback)) return { config, note: null };
  const demoOwn = client.redirect_uris.every((u) => isLocal(u) && new URL(u).pathname === '/demo/callback');
  if (!isLocal(config.issuer) || !demoOwn) {
    return { config, note: `/demo is off: client "${DEMO_CLIENT_ID}" has no redirect URI ${callback} (add it to config/oidc-sspr.yaml)` };
  }
  const moved: ClientConfig = {
    ...client,
    redirect_uris: [callback],
    post_logout_redirect_uris: [`${config.issuer}/demo`],
    ...(client.client_uri && isLocal(client.client_uri) ? { client_uri: `${config.issuer}/demo` } : {}),
  };
  return { config: { ...config, clients: config.clients.map((c) => (c === client ? moved : c)) }, note: null };
}

/** Who the demo greets: the person's name, else their user name or email, never the account's uuid. */
export function displayName(claims: Record<string, unknown>): string | null {
  for (const key of ['name', 'preferred_username', 'email']) {
    const v = claims[key];
    if (typeof v === 'string' && v.trim()) return v.trim();
  }
  return null;
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
    // Back from the provider without signing in (cancelled at sign-in, registration or consent).
    const messages = ctx.query.m === 'cancelled' ? [{ id: 'pages:demo.cancelled', type: 'info' as const }] : [];
    renderPage(ctx, kit, 'demo', { titleKey: 'pages:demo.title', claims: null, userinfo: null, signInUrl: '/demo/login', messages });
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
    if (verifier && ctx.query.state === state && ctx.query.error === 'access_denied') {
      ctx.cookies.set(COOKIE, null);
      ctx.redirect('/demo?m=cancelled');
      return;
    }
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
    renderPage(ctx, kit, 'demo', { titleKey: 'pages:demo.title', claims, userinfo, name: displayName({ ...userinfo, ...claims }), signInUrl: '/demo/login', logoutUrl, getUrl: '/demo' });
  });
  return router;
}
