/**
 * oidc-sspr's public API: add forced registration of recovery methods and self-service password
 * reset to any oidc-provider server. Semantic versioning applies to what is exported here.
 *
 * ```ts
 * const sspr = await createSspr({ directory, database: 'postgres://…', config: { sspr: {...}, secrets: {...} } });
 * const provider = new Provider(issuer, { ...yours, interactions: { policy: sspr.interactionPolicy(), url } });
 * provider.use(sspr.routes(provider));
 * sspr.start();
 * ```
 */
export { createSspr } from './extension.ts';
export type { SsprExtension, SsprOptions, SsprConfigInput, Routes } from './extension.ts';
export type { AccountDirectory, DirectoryAccount, TransactionHandle } from './sspr/ports.ts';
export type { SignInGuard, SignInVerdict } from './sspr/sign-in-guard.ts';
export type { Clock } from './clock.ts';
export { systemClock } from './clock.ts';
export type { Transport, OutgoingMessage } from './delivery/index.ts';
export type { AuditInput, AuditEvent } from './audit/index.ts';
export { ConfigError } from './config/load.ts';
export { ssprSchema, configSchema } from './config/schema.ts';
export type { Config, ConfigInput, SsprPolicyConfig } from './config/schema.ts';
export { openStore } from './store/index.ts';
export type { Store } from './store/index.ts';
export { createPasswordHasher } from './sspr/password-hash.ts';
export type { PasswordHasher } from './sspr/password-hash.ts';
