import { join } from 'node:path';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { interactionPolicy } from 'oidc-provider';
import pino, { type Logger } from 'pino';
import type { Sequelize } from 'sequelize';
import type { AuditInput } from './audit/index.ts';
import type { Clock } from './clock.ts';
import { composeSspr, type Composition } from './compose.ts';
import { ConfigError, describeIssue } from './config/load.ts';
import { configSchema, type Config, type ConfigInput } from './config/schema.ts';
import type { Transport } from './delivery/index.ts';
import { createTranslator, type Translator } from './i18n/index.ts';
import { accountPasswordRoutes } from './interactions/account-password.ts';
import { createCsrf } from './interactions/csrf.ts';
import { isAppError } from './errors.ts';
import { PageError } from './interactions/errors.ts';
import { securityHeaders } from './interactions/headers.ts';
import { renderErrorPage, type PageKit } from './interactions/kit.ts';
import { loginRoutes } from './interactions/login.ts';
import { providerPages } from './interactions/provider-pages.ts';
import { registrationRoutes } from './interactions/registration.ts';
import { passkeyRoutes } from './interactions/passkey.ts';
import { resetRoutes } from './interactions/reset.ts';
import { loadViews } from './interactions/views.ts';
import { packageRoot } from './paths.ts';
import { credentialsEpochHooks, type CredentialsEpochHooks } from './provider/credentials-epoch.ts';
import { withoutAcrLoginChecks, type ProviderPages } from './provider/index.ts';
import { registrationPrompt } from './provider/registration-prompt.ts';
import { secondFactorPrompt } from './provider/mfa-prompt.ts';
import { createRememberBrowser } from './provider/mfa-remember.ts';
import { mfaRoutes } from './interactions/mfa.ts';
import { gateSessionsOf } from './interactions/signed-in.ts';
import { openStore, storeFromSequelize, type Store } from './store/index.ts';
import { migrate } from './store/migrate.ts';
import type { SsprDeps } from './sspr/context.ts';
import type { PasswordHasher } from './sspr/password-hash.ts';
import type { AccountDirectory } from './sspr/ports.ts';
import type { SignInGuard } from './sspr/sign-in-guard.ts';

/** The parts of our configuration an embedding host gives (same schema, same validation, same defaults). */
export type SsprConfigInput = Pick<ConfigInput, 'sspr' | 'delivery' | 'password_policy' | 'language' | 'audit'> & {
  secrets: { cookie_keys: string[]; encryption_keys: string[] };
};

/** What {@link createSspr} builds the extension from: the host's ports, a database and the policy. */
export interface SsprOptions {
  /** The host's accounts. */
  directory: AccountDirectory;
  /** Where SSPR keeps methods, codes, flows, throttles, audit and the delivery queue: an open store, a Sequelize instance or a database URL. */
  store?: Store;
  /** The host's Sequelize instance: oidc-sspr migrates its own tables into it. */
  sequelize?: Sequelize;
  /** A SQLite (`sqlite:/path`) or PostgreSQL (`postgres://…`) URL; the database is closed by `stop()`. */
  database?: string;
  /** Validated by the same schema as the config file (a full `Config` is accepted too). */
  config: SsprConfigInput | Config;
  /** Where time comes from (tests move it); default {@link systemClock}. */
  clock?: Clock;
  /** A pino logger; default: pino at `LOG_LEVEL` (info). */
  log?: Logger;
  /** Replace the configured email/SMS transports (the host's own mailer). */
  transports?: { email?: Transport; sms?: Transport };
  /** Sees every audit event after it is written (metrics). */
  onAuditEvent?: (event: AuditInput) => void;
  /** Where a signed-out visitor of `/account/security` can sign in, if the host offers such a page. */
  accountSignInUrl?: string;
}

/** Koa middleware as @koa/router composes it; `provider.use(...)` takes it. */
export type Routes = ReturnType<Router['routes']>;

/** What a host wires: returned by {@link createSspr}. */
export interface SsprExtension {
  /** The validated configuration, defaults filled in. */
  config: Config;
  /**
   * oidc-sspr's internal services (methods, codes, audit) as the composition root built them (src/compose.ts); tests and our own server read them.
   * @internal Not covered by semantic versioning.
   */
  deps: SsprDeps;
  /**
   * Renders pages in the same look and language (our server's demo pages).
   * @internal Not covered by semantic versioning.
   */
  pageKit: PageKit;
  /** oidc-provider's base interaction policy with our `register` prompt after login. */
  interactionPolicy(): interactionPolicy.Prompt[] & {
    /** Inserts a prompt (oidc-provider's `policy.add`). */
    add(prompt: interactionPolicy.Prompt, index?: number): void;
  };
  /** The `register` prompt alone, for hosts that build their own policy. */
  registrationPrompt: interactionPolicy.Prompt;
  /** The `mfa` prompt (the second factor at sign-in), for hosts that build their own policy: before `register`. */
  mfaPrompt: interactionPolicy.Prompt;
  /** Registration, forgot-password and account-security pages: `provider.use(sspr.routes(provider))`. */
  routes(provider: Provider): Routes;
  /** Our sign-in page too, for hosts that take it (password checked through the directory). */
  loginRoutes(provider: Provider, hasher: PasswordHasher): Routes;
  /** For a host's own login route: throttle password guesses. */
  signInGuard: SignInGuard;
  /**
   * The credentials epoch for the host's own provider, login and consent (see docs/security.md): a
   * reset, password change or "sign out everywhere" then ends sessions and grants at their next use.
   */
  credentialsEpoch: CredentialsEpochHooks;
  /** Where a host's own login page links "Forgot your password?". */
  forgotPasswordUrl(interactionUid: string): string;
  /** Error, logout and signed-out pages in our look and languages (oidc-provider options). */
  providerPages(): ProviderPages;
  /** Starts the delivery worker and hourly housekeeping. */
  start(): void;
  /** Ends the delivery worker and housekeeping, and closes the database opened from `database` (a given `store` or `sequelize` stays open). */
  stop(): Promise<void>;
}

function parseConfig(input: SsprConfigInput | Config): Config {
  const parsed = configSchema.safeParse({ ...input, demo: false, clients: [] });
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error));
  const config = parsed.data;
  if (!config.secrets.cookie_keys.length) throw new ConfigError('secrets.cookie_keys: required (CSRF tokens and cookies)');
  if (!config.secrets.encryption_keys.length) throw new ConfigError('secrets.encryption_keys: required (TOTP secrets and code hashes)');
  return config;
}

/**
 * Runs `routes` only for paths under one of `prefixes`. Every token, userinfo and discovery request
 * passes through the host's middleware stack; without this it would pay for matching all our routes.
 */
export function onlyUnder(prefixes: readonly string[], routes: Routes): Routes {
  const guarded = (ctx: Parameters<Routes>[0], next: Parameters<Routes>[1]) => {
    // Read once: `ctx.path` is a getter chain (Koa's delegates, then the request's URL parse cache).
    const path = ctx.path;
    return prefixes.some((p) => path.startsWith(p)) ? routes(ctx, next) : next();
  };
  return Object.assign(guarded, { router: routes.router }) as Routes;
}

/**
 * The one error handler: an AppError (PageError, SsprError, …) that may be shown becomes a page with
 * its stable code and message id; anything else is logged and becomes the generic page. The detail
 * goes to the log, never a stack trace to the user.
 */
function errorPages(kit: PageKit) {
  return async function errorPagesMiddleware(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (err) {
      if (isAppError(err) && err.expose) {
        kit.log.info({ code: err.code, detail: err.detail, path: ctx.path }, 'request refused');
        renderErrorPage(ctx, kit, err);
        return;
      }
      kit.log.error({ err, path: ctx.path }, 'unexpected error');
      renderErrorPage(ctx, kit, new PageError(500, 'generic'));
    }
  };
}

/**
 * Builds SSPR from its ports. Our own server is wired through the same composition root
 * (src/compose.ts) and {@link extensionFrom}; a host with its own oidc-provider and accounts uses it
 * the same way (see examples/existing-provider).
 */
export async function createSspr(options: SsprOptions): Promise<SsprExtension> {
  const config = parseConfig(options.config);
  const log = options.log ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  let store = options.store;
  if (!store && options.sequelize) {
    await migrate(options.sequelize);
    store = storeFromSequelize(options.sequelize);
  }
  // A store opened here from a URL is ours to close in stop(); a given store or Sequelize is the host's.
  let ownStore: Store | undefined;
  if (!store) {
    if (!options.database) throw new ConfigError('database: give a store, a Sequelize instance or a database URL');
    store = ownStore = await openStore({ url: options.database, warn: (m) => log.warn(m) });
  }
  const translator = createTranslator();
  const composed = await composeSspr({
    config, store, directory: options.directory, clock: options.clock, log, translator,
    transports: options.transports, onAuditEvent: options.onAuditEvent,
  });
  return extensionFrom(composed, {
    translator,
    accountSignInUrl: options.accountSignInUrl,
    onStop: async () => {
      await ownStore?.close();
      ownStore = undefined;
    },
  });
}

/**
 * The extension over an existing composition: what {@link createSspr} returns, and what our own
 * server builds from the composition it shares with the CLI.
 */
export function extensionFrom(
  composed: Composition,
  options: { translator?: Translator; accountSignInUrl?: string; onStop?: () => Promise<void> } = {},
): SsprExtension {
  const { config, clock, log, audit, delivery, signInGuard, flows, accessPasses } = composed;
  const deps = composed.sspr;
  const { codes } = deps;
  const kit: PageKit = {
    config,
    views: loadViews(join(packageRoot(), 'views')),
    translator: options.translator ?? createTranslator(),
    csrf: createCsrf(config.secrets.cookie_keys),
    log,
    accountSignInUrl: options.accountSignInUrl,
    passkeySignIn: flows.passkeys.enabled(),
  };
  const prompt = registrationPrompt(deps);
  const remember = createRememberBrowser({ issuer: config.issuer, cookieKeys: config.secrets.cookie_keys, clock });
  const mfa = secondFactorPrompt(deps, flows.secondFactor, remember);

  const errors = errorPages(kit);
  // Headers and error pages around the routes, chained directly: a router around them matched every
  // path against its layers once more on each page request, for no route of its own.
  const withPages = (router: Router, prefixes: readonly string[]): Routes => {
    const routes = router.routes();
    // Koa middlewares: the router's declares its own context type (with the fields it adds).
    const allowed = router.allowedMethods() as unknown as (ctx: Context, next: Next) => Promise<unknown>;
    const pages = (ctx: Parameters<Routes>[0], next: Parameters<Routes>[1]) =>
      securityHeaders(ctx, () => errors(ctx, () => routes(ctx, () => allowed(ctx, next))));
    return onlyUnder(prefixes, Object.assign(pages, { router: routes.router }) as Routes);
  };

  // The host's provider is the Koa app whose ctx.ip our throttles and audit log read; only the host
  // knows how many proxies stand in front of it, so we warn rather than change its app.
  let proxyChecked = false;
  const checkProxy = (provider: Provider) => {
    if (proxyChecked) return;
    proxyChecked = true;
    if (provider.proxy && !(provider.maxIpsCount > 0)) {
      log.warn('provider.proxy is true but provider.maxIpsCount is 0: ctx.ip is whatever a client writes first in X-Forwarded-For, so per-IP throttles can be dodged; set provider.maxIpsCount to the number of your proxies');
    }
  };

  let housekeeping: NodeJS.Timeout | undefined;
  const housekeep = async () => {
    try {
      await audit.prune(config.audit.retention_days);
      await codes.purgeExpired();
      await deps.throttle.purgeExpired();
      await accessPasses.purgeExpired();
      await flows.passkeys.purgeExpired();
      // Finished and abandoned registration/reset flows: kept a day for support questions.
      const dayAgo = new Date(clock.now().getTime() - 86_400_000);
      for (const kind of ['reset', 'registration'] as const) await deps.flows.purgeExpired(kind, dayAgo);
      // Last: what the purges (and the hour's deletions) removed also leaves SQLite's log file.
      if (!(await composed.store.truncateLog())) log.info('the SQLite log stays for now: readers were busy; next housekeeping tries again');
    } catch (err) {
      log.warn({ err }, 'housekeeping failed');
    }
  };

  return {
    config,
    deps,
    pageKit: kit,
    registrationPrompt: prompt,
    mfaPrompt: mfa,
    interactionPolicy() {
      const policy = interactionPolicy.base();
      withoutAcrLoginChecks(policy);
      policy.add(mfa, 1);
      policy.add(prompt, 2);
      return policy;
    },
    routes(provider) {
      checkProxy(provider);
      // /account/security and the other pages that read the session themselves ask for the same factors.
      gateSessionsOf(provider, deps.config.mfa);
      const router = new Router();
      router.use(mfaRoutes({ provider, kit, sspr: deps, secondFactor: flows.secondFactor, remember }).routes());
      router.use(registrationRoutes({ provider, kit, sspr: deps, flows: flows.registration, security: flows.accountSecurity }).routes());
      router.use(resetRoutes({ provider, kit, sspr: deps, flows: flows.reset }).routes());
      router.use(accountPasswordRoutes({ provider, kit, sspr: deps, change: flows.passwordChange }).routes());
      router.use(passkeyRoutes({ provider, kit, sspr: deps, passkeys: flows.passkeys, registration: flows.registration, reset: flows.reset, guard: signInGuard }).routes());
      return withPages(router, ['/interaction/', '/reset', '/account/security', '/static/passkey']);
    },
    loginRoutes(provider, hasher) {
      checkProxy(provider);
      return withPages(loginRoutes({ provider, kit, directory: composed.directory, hasher, audit, guard: signInGuard }), ['/interaction/']);
    },
    signInGuard,
    credentialsEpoch: credentialsEpochHooks,
    forgotPasswordUrl: (uid) => `/interaction/${encodeURIComponent(uid)}/reset`,
    providerPages: () => providerPages(kit),
    start() {
      delivery.start();
      if (!housekeeping) {
        void housekeep();
        housekeeping = setInterval(housekeep, 3_600_000);
        housekeeping.unref();
      }
    },
    async stop() {
      if (housekeeping) clearInterval(housekeeping);
      housekeeping = undefined;
      await delivery.stop();
      await options.onStop?.();
    },
  };
}
