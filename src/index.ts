/**
 * oidc-sspr's public API: add forced registration of recovery methods and self-service password
 * reset to any oidc-provider server.
 *
 * ```ts
 * const sspr = await createSspr({ directory, database: 'postgres://…', config: { sspr: {...}, secrets: {...} } });
 * const provider = new Provider(issuer, { ...yours, interactions: { policy: sspr.interactionPolicy(), url } });
 * provider.use(sspr.routes(provider));
 * sspr.start();
 * ```
 *
 * Semantic versioning: what this module exports is the public API; a breaking change to it bumps the
 * major version. Members marked `@internal` and deep imports (`oidc-sspr/dist/...`) are not covered.
 * @packageDocumentation
 */
export { createSspr, onlyUnder } from './extension.ts';
export type { SsprExtension, SsprOptions, SsprConfigInput, Routes } from './extension.ts';

/** The host's accounts as oidc-sspr sees them: the one port every host implements. */
export type { AccountDirectory } from './sspr/ports.ts';
export type { DirectoryAccount, TransactionHandle } from './sspr/ports.ts';
/** A host's sessions as `/account/security` lists them (the optional `listSessions`/`endOtherSessions`). */
export type { DirectorySession, DirectorySessions } from './sspr/ports.ts';

/** Password sign-in throttling for a host's own login route (`sspr.signInGuard`). */
export type { SignInGuard } from './sspr/sign-in-guard.ts';
/** The answer of {@link SignInGuard.before}: go ahead, or refuse (and when to retry). */
export type { SignInVerdict } from './sspr/sign-in-guard.ts';
/** Who signs in, for {@link SignInGuard.before}: the account the identifier names, so every spelling shares one budget. */
export type { SignInSubject } from './sspr/sign-in-guard.ts';

export type { Clock } from './clock.ts';
/** The real clock (`new Date()`); the default of {@link SsprOptions.clock}. */
export { systemClock } from './clock.ts';

export type { Transport } from './delivery/index.ts';
/** How a message travels: `email` or `sms`. */
export type { Channel } from './delivery/index.ts';
/** A message oidc-sspr hands a {@link Transport}: a one-time code or a notice, as plain text. */
export type { OutgoingMessage } from './delivery/index.ts';

/** An audit event as oidc-sspr records it (and passes to {@link SsprOptions.onAuditEvent}). */
export type { AuditInput } from './audit/index.ts';
/** A stored audit event as the audit log returns it (ECS-like field names). */
export type { AuditEvent } from './audit/index.ts';
/** The outcome of an audited activity. */
export type { AuditResult } from './audit/index.ts';
export type { Activity, RequestContext } from './audit/index.ts';

/** The one error family: a stable `code`, an HTTP `status` and a user-safe `messageId` (ConfigError is one). */
export { AppError, isAppError } from './errors.ts';
export type { AppErrorOptions } from './errors.ts';
export { ConfigError } from './config/load.ts';
/** The zod schema of the `sspr:` policy (who is in scope, methods, codes, throttles). */
export { ssprSchema } from './config/schema.ts';
/** The zod schema of the whole configuration file; {@link createSspr} validates with it. */
export { configSchema } from './config/schema.ts';
export type { Config, ConfigInput } from './config/schema.ts';
/** The validated `sspr:` policy. */
export type { SsprPolicyConfig } from './config/schema.ts';

export { openStore } from './store/index.ts';
/** oidc-sspr's own database (methods, codes, flows, throttles, audit, delivery queue), opened by {@link openStore}. */
export type { Store } from './store/index.ts';
/** Where {@link openStore} connects: a SQLite or PostgreSQL URL, and pool options. */
export type { DatabaseOptions } from './store/db.ts';

export { createPasswordHasher } from './sspr/password-hash.ts';
/** argon2id hashing as {@link createPasswordHasher} returns it (hash, verify, dummyVerify, needsRehash). */
export type { PasswordHasher } from './sspr/password-hash.ts';
/** argon2id cost parameters (the `password_hashing:` configuration keys). */
export type { HashingParameters } from './sspr/password-hash.ts';

/** oidc-provider options for its error and logout pages in oidc-sspr's look (`sspr.providerPages()`). */
export type { ProviderPages } from './provider/index.ts';
/** The credentials-epoch checks a host with its own provider wires (`createSspr(...).credentialsEpoch`). */
export type { CredentialsEpochHooks } from './provider/credentials-epoch.ts';
