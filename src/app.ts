import { readFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { join } from 'node:path';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { interactionPolicy } from 'oidc-provider';
import pino, { type Logger } from 'pino';
import { createAuditLog, type AuditLog } from './audit/index.ts';
import { recordPolicyChange } from './audit/policy-change.ts';
import { createMetrics, metricsEndpoint } from './metrics/index.ts';
import { purgeExpiredProviderState } from './provider/adapter.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { demoRoutes } from './demo/routes.ts';
import { createDelivery, type LogFn } from './delivery/index.ts';
import { createTranslator } from './i18n/index.ts';
import { registrationRoutes } from './interactions/registration.ts';
import { resetRoutes } from './interactions/reset.ts';
import { registrationPrompt } from './provider/registration-prompt.ts';
import { createCodeService } from './sspr/codes.ts';
import type { SsprDeps } from './sspr/context.ts';
import { createCodeHasher, createSecretBox } from './sspr/crypto.ts';
import { createMethodRepository, createMethods } from './sspr/methods/index.ts';
import { createPasswordPolicy } from './sspr/password-policy.ts';
import { createSignInGuard } from './sspr/sign-in-guard.ts';
import { createThrottle } from './sspr/throttle.ts';
import { createCsrf } from './interactions/csrf.ts';
import { PageError } from './interactions/errors.ts';
import { securityHeaders } from './interactions/headers.ts';
import { renderErrorPage, type PageKit } from './interactions/kit.ts';
import { loginRoutes } from './interactions/login.ts';
import { providerPages } from './interactions/provider-pages.ts';
import { loadViews } from './interactions/views.ts';
import { packageRoot } from './paths.ts';
import { createProvider, type Provider } from './provider/index.ts';
import { loadOrCreateSigningKeys } from './provider/keys.ts';
import { createSequelizeDirectory, type SequelizeDirectory } from './store/account-directory.ts';
import { openStore, type Store } from './store/index.ts';
import { createPasswordHasher, type PasswordHasher } from './sspr/password-hash.ts';

export interface AppOptions {
  config: Config;
  clock?: Clock;
  log?: Logger;
  /** An already open store (tests share one between two instances); else opened from config.database. */
  store?: Store;
}

/** Delivery logs through pino like everything else. */
function pinoLogFn(log: Logger): LogFn {
  return (level, message, fields) => log[level](fields ?? {}, message);
}

export interface App {
  provider: Provider;
  store: Store;
  config: Config;
  directory: SequelizeDirectory;
  hasher: PasswordHasher;
  audit: AuditLog;
  clock: Clock;
  log: Logger;
  sspr: SsprDeps;
  listen(port?: number, host?: string): Promise<Server>;
  close(): Promise<void>;
}

/** Logs the detail, shows the user a page with a stable code, never a stack trace. */
function errorPages(kit: PageKit) {
  return async function errorPagesMiddleware(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
      if (ctx.status === 404 && !ctx.body) renderErrorPage(ctx, kit, new PageError(404, 'not_found'));
    } catch (err) {
      if (err instanceof PageError) {
        kit.log.info({ code: err.code, detail: err.detail, path: ctx.path }, 'request refused');
        renderErrorPage(ctx, kit, err);
        return;
      }
      kit.log.error({ err, path: ctx.path }, 'unexpected error');
      renderErrorPage(ctx, kit, new PageError(500, 'generic'));
    }
  };
}

/** The composition root: the only place that wires modules together. */
export async function createApp(options: AppOptions): Promise<App> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const store = options.store ?? (await openStore({ url: config.database }));
  const hasher = createPasswordHasher(config.password_hashing);
  const directory = createSequelizeDirectory(store, hasher, clock);
  const metrics = createMetrics();
  const audit = createAuditLog(store, clock, (event) => metrics.observe(event));
  await recordPolicyChange(store, audit, config.sspr);
  const root = packageRoot();
  const kit: PageKit = {
    config,
    views: loadViews(join(root, 'views')),
    translator: createTranslator(),
    csrf: createCsrf(config.secrets.cookie_keys),
    log,
  };
  const jwks = await loadOrCreateSigningKeys(store);
  const delivery = createDelivery(config.delivery, { store, clock, audit, translator: kit.translator, log: pinoLogFn(log) });
  const secretBox = createSecretBox(config.secrets.encryption_keys);
  const codes = createCodeService({ store, clock, hasher: createCodeHasher(config.secrets.encryption_keys), ttlMinutes: config.sspr.code_ttl_minutes });
  const sspr: SsprDeps = {
    config,
    store,
    clock,
    log,
    directory,
    audit,
    delivery,
    codes,
    throttle: createThrottle({ store, clock }),
    secretBox,
    methods: createMethods({ config, codes, delivery, secretBox, clock }),
    methodRepo: createMethodRepository({ store, clock }),
    passwordPolicy: await createPasswordPolicy(config.password_policy),
  };
  const extraPrompts: interactionPolicy.Prompt[] = [registrationPrompt(sspr)];
  const guard = createSignInGuard({ throttle: sspr.throttle, audit, clock, rules: config.sspr.throttle.sign_in_failures });

  const provider = createProvider({ config, store, directory, clock, jwks, pages: providerPages(kit), extraPrompts });
  provider.on('server_error', (_ctx, err) => log.error({ err }, 'oidc-provider server_error'));

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

  provider.use(metrics.timeRequests);
  provider.use(securityHeaders);
  provider.use(errorPages(kit));
  provider.use(base.routes());
  const login = loginRoutes({ provider, kit, directory, hasher, audit, guard });
  provider.use(login.routes());
  provider.use(registrationRoutes({ provider, kit, sspr }).routes());
  provider.use(resetRoutes({ provider, kit, sspr }).routes());
  const demoClient = config.clients.find((c) => c.client_id === 'demo-app' && c.redirect_uris.includes(`${config.issuer}/demo/callback`));
  if (config.demo && demoClient) provider.use(demoRoutes(config, demoClient, kit).routes());

  const servers: Server[] = [];
  let housekeeping: NodeJS.Timeout | undefined;
  /** Hourly: prune audit past retention, expired provider rows, codes and throttles. */
  function startHousekeeping(): NodeJS.Timeout {
    const run = async () => {
      try {
        await audit.prune(config.audit.retention_days);
        await purgeExpiredProviderState(store, clock);
        await codes.purgeExpired();
        await sspr.throttle.purgeExpired();
      } catch (err) {
        log.warn({ err }, 'housekeeping failed');
      }
    };
    void run();
    const timer = setInterval(run, 3_600_000);
    timer.unref();
    return timer;
  }
  return {
    provider,
    store,
    config,
    directory,
    hasher,
    audit,
    clock,
    log,
    sspr,
    listen(port = config.port, host = '127.0.0.1') {
      delivery.start();
      housekeeping ??= startHousekeeping();
      return new Promise((resolve, reject) => {
        const server = provider.listen(port, host);
        server.once('listening', () => resolve(server));
        server.once('error', reject);
        servers.push(server);
      });
    },
    async close() {
      await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections?.(); s.close(() => r()); })));
      if (housekeeping) clearInterval(housekeeping);
      await delivery.stop();
      if (!options.store) await store.close();
    },
  };
}
