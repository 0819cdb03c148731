import Router from '@koa/router';
import Provider, { errors, type Configuration } from 'oidc-provider';
import { createPasswordHasher, createSspr, type SsprOptions } from 'oidc-sspr';
import { InMemoryAccounts } from './accounts.ts';
import { createMemoryAdapter } from './adapter.ts';

export interface ExampleOptions {
  issuer: string;
  clients: NonNullable<Configuration['clients']>;
  /** Everything oidc-sspr needs except the account directory: its database, its configuration, a logger. */
  sspr: Omit<SsprOptions, 'directory'>;
}

/**
 * An oidc-provider app with its own accounts, its own storage and its own (very plain) login and
 * consent pages, which adds oidc-sspr's forced registration and forgot-password in the lines marked
 * "oidc-sspr".
 */
export async function createExampleServer(options: ExampleOptions) {
  const hasher = createPasswordHasher({ memory_kib: 19456, time_cost: 2, parallelism: 1 });
  const storage = createMemoryAdapter();
  // The stamp is sspr's, built next from this very directory: only called once requests come in.
  const accounts = new InMemoryAccounts(hasher, storage, (payload, account) => sspr.credentialsEpoch.stamp(payload, account));

  // oidc-sspr: build the extension from our account directory (plus a database for its own state).
  const sspr = await createSspr({ ...options.sspr, directory: accounts.directory() });

  const provider = new Provider(options.issuer, {
    adapter: storage.adapter,
    clients: options.clients,
    cookies: { keys: sspr.config.secrets.cookie_keys },
    claims: { email: ['email'], profile: ['name', 'preferred_username'] },
    features: { devInteractions: { enabled: false } },
    async findAccount(ctx, sub, token) {
      const account = accounts.byId.get(sub);
      if (!account || account.disabled) return undefined;
      // oidc-sspr: refuse sessions and grants from before the account's last reset or password change.
      if (!sspr.credentialsEpoch.admits(ctx, account, token)) return undefined;
      return {
        accountId: sub,
        claims: async () => {
          if (!sspr.credentialsEpoch.admits(ctx, account, token)) throw new errors.InvalidToken('credentials changed');
          return { sub, email: account.email ?? undefined, name: account.name ?? undefined, preferred_username: account.login };
        },
      };
    },
    // oidc-sspr: the base policy plus the "register" prompt after login.
    interactions: { policy: sspr.interactionPolicy(), url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  sspr.credentialsEpoch.carry(provider); // oidc-sspr: sessions and grants remember their credentials epoch

  // The host's own interaction pages: sign-in and consent. Other prompts (oidc-sspr's "register")
  // have their pages under the same URL.
  const router = new Router();
  router.get('/interaction/:uid', async (ctx) => {
    const { uid, prompt, params } = await provider.interactionDetails(ctx.req, ctx.res);
    ctx.type = 'html';
    if (prompt.name === 'login') {
      // oidc-sspr sends the user back here with ?reset=done after a password reset.
      const notice = ctx.query.reset === 'done' ? '<p role="status">Your password was changed. Sign in with the new one.</p>\n' : '';
      ctx.body = page('Sign in', `${notice}<form method="post" action="/interaction/${uid}/login">
  <label>User <input name="login" autocomplete="username" required></label>
  <label>Password <input name="password" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form>
<a href="${sspr.forgotPasswordUrl(uid)}">Forgot your password?</a>`); // oidc-sspr: the link
    } else if (prompt.name === 'consent') {
      ctx.body = page('Allow access', `<p>${escape(String(params.client_id))} asks for: ${escape(String(params.scope))}</p>
<form method="post" action="/interaction/${uid}/confirm"><button type="submit">Allow</button></form>`);
    } else {
      ctx.redirect(`/interaction/${uid}/${prompt.name}`);
    }
  });

  router.post('/interaction/:uid/login', async (ctx) => {
    const form = new URLSearchParams(await readBody(ctx.req));
    const login = form.get('login') ?? '';
    const password = form.get('password') ?? '';
    // Read before the password check: its credentials epoch goes into the login result.
    const account = accounts.find(login);
    // oidc-sspr (optional): throttle password guesses like oidc-sspr's own sign-in page does. The
    // attempt is counted before the password is checked, on the account (every spelling one budget).
    const subject = { accountId: account?.id ?? null };
    if (!(await sspr.signInGuard.before(login, ctx.ip, subject)).allowed) {
      ctx.status = 429;
      ctx.body = 'Too many attempts, try again later';
      return;
    }
    const ok = account ? await accounts.verifyPassword(account.id, password) : await hasher.dummyVerify(password);
    await sspr.signInGuard.after(login, ctx.ip, ok, undefined, subject);
    if (!ok || !account) {
      ctx.status = 401;
      ctx.body = 'Wrong user name or password';
      return;
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: account.id, ...sspr.credentialsEpoch.loginFields(account) } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  router.post('/interaction/:uid/confirm', async (ctx) => {
    const { prompt, params, session, grantId } = await provider.interactionDetails(ctx.req, ctx.res);
    const account = accounts.byId.get(session?.accountId ?? '');
    if (!account) throw new errors.AccessDenied('no account');
    const grant = (grantId && (await provider.Grant.find(grantId))) || new provider.Grant({ accountId: session!.accountId, clientId: String(params.client_id) });
    const missing = prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    sspr.credentialsEpoch.stampGrant(grant, account); // oidc-sspr
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  provider.use(router.routes());
  provider.use(sspr.routes(provider)); // oidc-sspr: registration, forgot-password and account-security pages
  sspr.start(); // oidc-sspr: the delivery worker (email/SMS codes) and housekeeping

  return { provider, accounts, sspr };
}

function page(title: string, body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body><h1>${title}</h1>\n${body}\n</body></html>`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function readBody(req: NodeJS.ReadableStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (chunk: string) => {
      data += chunk;
      if (data.length > 16_384) reject(new Error('body too large'));
    });
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
