import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import Router from '@koa/router';
import pino, { type Logger } from 'pino';
import { accountConsoleRoutes } from './account-console.ts';
import type { AuditLog } from './audit/index.ts';
import { recordPolicyChange } from './audit/policy-change.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { demoClientOf, demoRoutes } from './demo/routes.ts';
import { composeSspr } from './compose.ts';
import { extensionFrom } from './extension.ts';
import { createTranslator } from './i18n/index.ts';
import { onlyUnder, type AuditInput, type SsprExtension } from './index.ts';
import { PageError } from './interactions/errors.ts';
import { finishSecurityHeaders, startSecurityHeaders } from './interactions/headers.ts';
import { renderErrorPage } from './interactions/kit.ts';
import { createMetrics, metricsEndpoint } from './metrics/index.ts';
import { packageRoot } from './paths.ts';
import { purgeExpiredProviderState } from './provider/adapter.ts';
import { createProvider, type Provider } from './provider/index.ts';
import { loadOrCreateSigningKeys } from './provider/keys.ts';
import type { AccountService } from './admin/accounts.ts';
import type { SequelizeDirectory } from './store/account-directory.ts';
import { openStore, type Store } from './store/index.ts';
import type { SsprDeps } from './sspr/context.ts';
import type { PasswordHasher } from './sspr/password-hash.ts';

export interface AppOptions {
  config: Config;
  clock?: Clock;
  log?: Logger;
  /** An already open store (tests share one between two instances); else opened from config.database. */
  store?: Store;
}

export interface App {
  provider: Provider;
  store: Store;
  config: Config;
  directory: SequelizeDirectory;
  hasher: PasswordHasher;
  /** The administrator's operations (the CLI's), from the same composition root. */
  admin: AccountService;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  sspr: SsprDeps;
  extension: SsprExtension;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
}

/**
 * Our server: the provider, its pages and endpoints around the one composition root
 * (src/compose.ts), whose extension (`extensionFrom`, the same builder `createSspr` ends in) brings
 * SSPR in exactly as an embedding host gets it.
 */
export async function createApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const store = options.store ?? (await openStore({ url: config.database, warn: (m) => log.warn(m) }));
  // `/metrics` off (no token): nothing to count, so no per-request timing and no prom-client loaded.
  const metrics = config.metrics.token ? createMetrics() : undefined;
  // The one composition root (shared with the CLI and createSspr); our accounts are its default directory.
  const translator = createTranslator();
  const composed = await composeSspr({
    config, store, clock, log, translator,
    ...(metrics ? { onAuditEvent: (event: AuditInput) => metrics.observe(event) } : {}),
  });
  const { directory, hasher, audit } = composed;
  const extension = extensionFrom(composed, { translator, accountSignInUrl: '/account/sign-in' });
  const sspr = extension.deps;
  const kit = extension.pageKit;
  await recordPolicyChange(store, audit, config.sspr);

  const jwks = await loadOrCreateSigningKeys(store);
  const provider = createProvider({
    config,
    store,
    directory,
    clock,
    jwks,
    pages: extension.providerPages(),
    extraPrompts: [extension.mfaPrompt, extension.registrationPrompt],
  });
  provider.on('server_error', (_ctx, err) => log.error({ err }, 'oidc-provider server_error'));

  const root = packageRoot();
  const css = readFileSync(join(root, 'views/static/style.css'));
  const base = new Router();
  base.get('/static/style.css', (ctx) => {
    ctx.type = 'text/css';
    ctx.set('Cache-Control', 'public, max-age=3600');
    ctx.body = css;
  });
  base.get('/metrics', metricsEndpoint(metrics, config.metrics.token));
  base.get('/healthz', async (ctx) => {
    try {
      await store.sequelize.query('SELECT 1');
      ctx.body = { status: 'ok' };
    } catch {
      ctx.status = 503;
      ctx.body = { status: 'unavailable' };
    }
  });

  // oidc-provider builds its absolute URLs (discovery, redirects) from the request's host: pin it to the
  // issuer's, so a forged Host or X-Forwarded-Host never ends up in a link (host header poisoning).
  const issuerHost = new URL(config.issuer).host;
  // SQLite: a request's writes share commits, all committed before its response goes out.
  const committedBeforeResponse = store.groupWritesPerRequest();
  // What every request gets, in one layer rather than one each: each async layer is one more frame
  // that every error built on the way captures (oidc-provider builds three on each userinfo).
  provider.use((ctx, next) => {
    ctx.request.header.host = issuerHost;
    delete ctx.request.header['x-forwarded-host'];
    const headersHere = startSecurityHeaders(ctx);
    return committedBeforeResponse(async () => {
      await next();
      if (ctx.status === 404 && !ctx.body) renderErrorPage(ctx, kit, new PageError(404, 'not_found'));
      if (headersHere) finishSecurityHeaders(ctx);
    });
  });
  if (metrics) provider.use(metrics.timeRequests);
  provider.use(onlyUnder(['/static/', '/metrics', '/healthz'], base.routes()));
  provider.use(extension.loginRoutes(provider, hasher));
  provider.use(extension.routes(provider));
  provider.use(onlyUnder(['/account/'], accountConsoleRoutes(config).routes()));
  const demoClient = demoClientOf(config);
  if (demoClient) provider.use(onlyUnder(['/demo'], demoRoutes(config, demoClient, kit).routes()));

  const servers: Server[] = [];
  let providerHousekeeping: NodeJS.Timeout | undefined;
  return {
    provider,
    store,
    config,
    directory,
    hasher,
    admin: composed.admin,
    audit,
    clock,
    log,
    sspr,
    extension,
    listen(port = config.port, host = '127.0.0.1') {
      extension.start();
      if (!providerHousekeeping) {
        const purge = () => purgeExpiredProviderState(store, clock).catch((err: unknown) => log.warn({ err }, 'purging provider state failed'));
        void purge();
        providerHousekeeping = setInterval(purge, 3_600_000);
        providerHousekeeping.unref();
      }
      return new Promise((resolve, reject) => {
        const server = provider.listen(port, host);
        server.once('listening', () => resolve(server));
        server.once('error', reject);
        servers.push(server);
      });
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections?.(); s.close(() => r()); })));
      if (providerHousekeeping) clearInterval(providerHousekeeping);
      await extension.stop();
      if (!options.store) await store.close();
    },
  };
}
