import { createHash, randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Config } from './config/schema.ts';
import { ACCOUNT_CLIENT_ID } from './provider/index.ts';

/**
 * Signing in to `/account/security` directly: the account pages are a first-party app of their own
 * that sends the browser through a normal authorization request with `prompt=login` (a fresh
 * password, so the page's "signed in within 10 minutes" rule holds). The provider's session cookie
 * is what the account pages use; the code the callback receives is never redeemed and expires.
 */
export function accountConsoleRoutes(config: Config): Router {
  const router = new Router();
  router.get('/account/sign-in', (ctx) => {
    const verifier = randomBytes(32).toString('base64url');
    const url = new URL(`${config.issuer}/auth`);
    url.search = new URLSearchParams({
      client_id: ACCOUNT_CLIENT_ID,
      response_type: 'code',
      scope: 'openid',
      prompt: 'login',
      redirect_uri: `${config.issuer}/account/callback`,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
      state: randomBytes(16).toString('base64url'),
      ...(typeof ctx.query.lang === 'string' ? { ui_locales: ctx.query.lang } : {}),
    }).toString();
    ctx.redirect(url.toString());
  });
  router.get('/account/callback', (ctx) => {
    ctx.status = 303;
    ctx.redirect('/account/security');
  });
  return router;
}
