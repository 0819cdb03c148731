/**
 * Bench child: the irreducible work, a bare oidc-provider with the same clients, the same kind of
 * signing keys (RSA for RS256 + P-256) and the same cookie keys as oidc-sspr; its default in-memory
 * adapter; devInteractions off; a trivial Koa login route that verifies the same argon2id hash with
 * the same parameters; consent skipped through loadExistingGrant (as for oidc-sspr's first-party
 * clients). Started by bench/run.ts; not meant to be run by hand.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Router from '@koa/router';
import argon2 from 'argon2';
import type { Context } from 'koa';
import Provider, { type JWK } from 'oidc-provider';
import { instrumentSteps } from './step-stats.ts';
import { reportStepStats, freePort, readServerOptions, reportFailure, serveParent, type FromChild } from './protocol.ts';

interface BareAccount { id: string; login: string; email: string; name: string; passwordHash: string }

function signingKeys(): { keys: JWK[] } {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, kid: randomUUID(), use: 'sig', alg: 'RS256' } as JWK,
      { ...ec, kid: randomUUID(), use: 'sig', alg: 'ES256' } as JWK,
    ],
  };
}

async function readBody(ctx: Context): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16_384) ctx.throw(413);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function main(): Promise<void> {
  const opts = readServerOptions();
  if (!opts.passwordHash || !opts.accounts) throw new Error('bare bench server needs accounts and a hash');
  const byLogin = new Map<string, BareAccount>();
  const byId = new Map<string, BareAccount>();
  for (let i = 0; i < opts.accounts; i++) {
    const a: BareAccount = { id: randomUUID(), login: `user${i}`, email: `user${i}@example.org`, name: `User ${i}`, passwordHash: opts.passwordHash };
    byLogin.set(a.login, a);
    byId.set(a.id, a);
  }
  const argonOptions = { type: argon2.argon2id, memoryCost: opts.hashing.memory_kib, timeCost: opts.hashing.time_cost, parallelism: opts.hashing.parallelism } as const;
  const dummyHash = await argon2.hash('dummy password for timing equality', argonOptions);

  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [{
      client_id: opts.client.clientId,
      client_secret: opts.client.clientSecret,
      token_endpoint_auth_method: 'client_secret_basic',
      redirect_uris: [opts.client.redirectUri],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    }],
    jwks: signingKeys(),
    cookies: {
      keys: opts.cookieKeys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      openid: ['sub'],
      profile: ['name', 'preferred_username', 'updated_at'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'phone'],
    async findAccount(_ctx, sub) {
      const a = byId.get(sub);
      if (!a) return undefined;
      return {
        accountId: a.id,
        claims: async () => ({ sub: a.id, name: a.name, preferred_username: a.login, email: a.email, email_verified: false }),
      };
    },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 86_400,
      Grant: 14 * 86_400,
      Interaction: 3600,
      Session: 24 * 3600,
      BackchannelAuthenticationRequest: 600,
      ClientCredentials: 600,
      DeviceCode: 600,
    },
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    async loadExistingGrant(ctx) {
      const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId
        ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        if (existing) return existing;
      }
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      await grant.save();
      return grant;
    },
  });

  const router = new Router();
  router.get('/interaction/:uid', async (ctx) => {
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    if (details.prompt.name === 'login') {
      ctx.type = 'html';
      ctx.body = `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head><body>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
<input name="login" autocomplete="username"><input name="password" type="password" autocomplete="current-password">
<button type="submit">Sign in</button></form></body></html>`;
      return;
    }
    // prompt=consent (only the token benchmark's setup asks for it): grant what is missing.
    const { missingOIDCScope } = details.prompt.details as { missingOIDCScope?: string[] };
    const grant = details.grantId
      ? (await provider.Grant.find(details.grantId))!
      : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    if (missingOIDCScope) grant.addOIDCScope(missingOIDCScope.join(' '));
    const grantId = await grant.save();
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true }));
  });
  router.post('/interaction/:uid/login', async (ctx) => {
    await provider.interactionDetails(ctx.req, ctx.res);
    const form = await readBody(ctx);
    const account = byLogin.get((form.get('login') ?? '').trim().toLowerCase());
    const password = form.get('password') ?? '';
    const ok = account
      ? await argon2.verify(account.passwordHash, password.normalize('NFC')).catch(() => false)
      : await argon2.verify(dummyHash, password).then(() => false, () => false);
    if (!ok || !account) {
      ctx.status = 401;
      ctx.body = 'invalid credentials';
      return;
    }
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: account.id, amr: ['pwd'], remember: true } }, { mergeWithLastSubmission: false }));
  });
  provider.use(router.routes());

  const server = provider.listen(port, '127.0.0.1');
  if (opts.steps) reportStepStats(instrumentSteps(server));
  await new Promise<void>((resolve, reject) => {
    server.once('listening', () => resolve());
    server.once('error', reject);
  });
  serveParent(() => new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  process.send?.({ type: 'ready', issuer } satisfies FromChild);
}

main().catch(reportFailure);
