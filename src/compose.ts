import pino, { type Logger } from 'pino';
import { adminNotifier } from './admin/notify.ts';
import { createAccountService, type AccountService } from './admin/accounts.ts';
import { createAuditLog, type AuditInput, type AuditLog } from './audit/index.ts';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { createDelivery, type DeliveryService, type LogFn, type Transport } from './delivery/index.ts';
import type { Translator } from './i18n/index.ts';
import { createSequelizeDirectory, type SequelizeDirectory } from './store/account-directory.ts';
import type { Store } from './store/index.ts';
import { createCodeService } from './sspr/codes.ts';
import type { SsprDeps } from './sspr/context.ts';
import { createCodeHasher, createSecretBox, type CodeHasher, type SecretBox } from './sspr/crypto.ts';
import { createPasswordChange, type PasswordChange } from './sspr/flows/password-change.ts';
import { createRegistrationFlow, type RegistrationFlow } from './sspr/flows/registration.ts';
import { createResetFlow, type ResetFlowService } from './sspr/flows/reset.ts';
import { createSecondFactor, type SecondFactor } from './sspr/flows/second-factor.ts';
import { createAccountSecurity, type AccountSecurity } from './sspr/account-security.ts';
import { createPasskeyService, type PasskeyService } from './sspr/passkeys.ts';
import { createMethods } from './sspr/methods/index.ts';
import { createTemporaryAccessPassMethod } from './sspr/methods/temporary-access-pass.ts';
import { createAccessPassService, type AccessPassService } from './sspr/access-pass.ts';
import { createAccessPassRepository } from './store/access-pass-repository.ts';
import { createCodeStore } from './store/code-store.ts';
import { createFlowRepository } from './store/flow-repository.ts';
import { createMethodRepository } from './store/method-repository.ts';
import { createChallengeStore, createPasskeyRepository } from './store/passkey-repository.ts';
import { createThrottleStore } from './store/throttle-store.ts';
import { createNotices, type Notices } from './sspr/notices.ts';
import { createPasswordHasher, type PasswordHasher } from './sspr/password-hash.ts';
import { createPasswordPolicy } from './sspr/password-policy.ts';
import type { AccountDirectory } from './sspr/ports.ts';
import { createSignInGuard, type SignInGuard } from './sspr/sign-in-guard.ts';
import { createThrottle } from './sspr/throttle.ts';

/** What {@link composeSspr} wires from: a validated config and an open store; the rest has defaults. */
export interface ComposeOptions<D extends AccountDirectory = SequelizeDirectory> {
  config: Config;
  store: Store;
  /** The host's accounts; default: our own accounts in `store` (our server and CLI). */
  directory?: D;
  /** Default {@link systemClock}; tests move their own. */
  clock?: Clock;
  /** Default: pino at `LOG_LEVEL` (info). */
  log?: Logger;
  /** Default: argon2id with `config.password_hashing`. */
  hasher?: PasswordHasher;
  /** The pages' translator, so messages and pages share one catalog; default a fresh one. */
  translator?: Translator;
  /** Replace the configured email/SMS transports (an embedding host's own mailer). */
  transports?: { email?: Transport; sms?: Transport };
  /** Sees every audit event after it is written (metrics). */
  onAuditEvent?: (event: AuditInput) => void;
}

/** Everything built once: the ports, the SSPR services and flows, and the admin service. */
export interface Composition<D extends AccountDirectory = AccountDirectory> {
  config: Config;
  store: Store;
  clock: Clock;
  log: Logger;
  hasher: PasswordHasher;
  directory: D;
  audit: AuditLog;
  delivery: DeliveryService;
  notices: Notices;
  /** The helpdesk's Temporary Access Passes (CLI `user tap`, the reset's pass method). */
  accessPasses: AccessPassService;
  /** The SSPR services as flows, prompt and routes take them. */
  sspr: SsprDeps;
  /** Built here only, handed to the routes: no route file creates its own. */
  flows: { registration: RegistrationFlow; accountSecurity: AccountSecurity; reset: ResetFlowService; passwordChange: PasswordChange; passkeys: PasskeyService; secondFactor: SecondFactor };
  signInGuard: SignInGuard;
  /** The administrator's operations (the CLI); they work on our own accounts in `store`. */
  admin: AccountService;
}

/**
 * Keys are needed only when something is sealed or a code hashed. Our server and `createSspr` have
 * them (their config validation requires them); a CLI command against PostgreSQL without them still
 * runs everything that queues nothing, and a command that does fails naming the key.
 */
function withKeys<T extends object>(keys: readonly string[], build: (keys: readonly string[]) => T): T {
  if (keys.length > 0) return build(keys);
  const missing = () => {
    throw new Error('secrets.encryption_keys: required to seal secrets and queue notices (OIDC_SSPR_ENCRYPTION_KEYS)');
  };
  // Not thenable: an `await` somewhere must not call `then` and throw.
  return new Proxy({} as T, { get: (_target, prop) => (prop === 'then' ? undefined : missing) });
}

/**
 * The one composition root (shared/DESIGN.md): wires config, store, delivery, audit, clock, hasher,
 * account directory and the SSPR services. Our server (src/app.ts), the CLI
 * (src/cli/commands/context.ts) and the embedding entry (`createSspr`, src/extension.ts) all call it,
 * so a new collaborator is added in one place and every entry gets it the same way.
 */
export async function composeSspr<D extends AccountDirectory = SequelizeDirectory>(options: ComposeOptions<D>): Promise<Composition<D>> {
  const { config, store } = options;
  const clock = options.clock ?? systemClock;
  const log = options.log ?? pino({ level: process.env.LOG_LEVEL ?? 'info' });
  const hasher = options.hasher ?? createPasswordHasher(config.password_hashing);
  // Without a host's directory D is its default, SequelizeDirectory: the cast states what the default is.
  const directory = options.directory ?? (createSequelizeDirectory(store, hasher, clock) as AccountDirectory as D);
  const audit = createAuditLog(store, clock, options.onAuditEvent);
  const keys = config.secrets.encryption_keys;
  const secretBox = withKeys<SecretBox>(keys, createSecretBox);
  const codeHasher = withKeys<CodeHasher>(keys, createCodeHasher);
  const pinoLog: LogFn = (level, message, fields) => log[level](fields ?? {}, message);
  const delivery = createDelivery(config.delivery, { store, clock, audit, secretBox, translator: options.translator, log: pinoLog, transports: options.transports, timeZone: config.timezone });
  const codes = createCodeService({ store: createCodeStore(store), clock, hasher: codeHasher, ttlMinutes: config.sspr.code_ttl_minutes });
  const passwordPolicy = await createPasswordPolicy(config.password_policy);
  const methodRepo = createMethodRepository({ store, clock });
  const accessPasses = createAccessPassService({
    repository: createAccessPassRepository(store), clock, hasher: codeHasher, policy: config.sspr.temporary_access_pass, audit,
  });
  // The helpdesk's pass is a reset method only while the policy enables it.
  const extra = config.sspr.temporary_access_pass.enabled ? [createTemporaryAccessPassMethod({ passes: accessPasses, audit })] : [];
  const sspr: SsprDeps = {
    config,
    store,
    flows: createFlowRepository(store),
    clock,
    log,
    directory,
    audit,
    delivery,
    codes,
    throttle: createThrottle({ store: createThrottleStore(store), clock }),
    secretBox,
    methods: createMethods({
      config, codes, delivery, secretBox, clock, methodRepo, extra,
      passkeys: { repo: createPasskeyRepository(store), challenges: createChallengeStore(store), audit },
    }),
    methodRepo,
    passwordPolicy,
  };
  const notices = createNotices({ config, delivery, methodRepo: sspr.methodRepo, directory });
  const admin = createAccountService({
    store,
    clock,
    audit,
    hasher,
    notify: adminNotifier({ notices, methodRepo: sspr.methodRepo, clock }),
    defaultRegion: config.delivery.sms.default_region,
    // An admin-set password follows the same policy as a self-service one.
    checkPassword: async (password, ctx) => {
      const checked = passwordPolicy.check(password, { login: ctx.login, email: ctx.email ?? undefined });
      return checked.ok ? [] : checked.failed;
    },
  });
  const registration = createRegistrationFlow(sspr);
  const flows = {
    registration, accountSecurity: createAccountSecurity(sspr, registration), reset: createResetFlow(sspr), passwordChange: createPasswordChange(sspr),
    passkeys: createPasskeyService(sspr, registration), secondFactor: createSecondFactor(sspr),
  };
  return {
    config,
    store,
    clock,
    log,
    hasher,
    directory,
    audit,
    delivery,
    notices,
    sspr,
    accessPasses,
    flows,
    signInGuard: createSignInGuard({ throttle: sspr.throttle, audit, clock, limits: config.sspr.throttle }),
    admin,
  };
}
