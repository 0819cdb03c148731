import type { Clock } from '../../clock.ts';
import { METHOD_TYPES, type Config, type MethodType } from '../../config/schema.ts';
import type { DeliveryPort } from '../../delivery/index.ts';
import type { CodeService } from '../codes.ts';
import { createKeyedHasher, type SecretBox } from '../crypto.ts';
import type { AuditSink } from '../../audit/index.ts';
import type { ChallengeStore, PasskeyRepository } from '../ports.ts';
import { createEmailMethod } from './email.ts';
import { createPasskeyMethod } from './passkey.ts';
import { createRecoveryCodesMethod } from './recovery-codes.ts';
import { createSmsMethod } from './sms.ts';
import { createTotpMethod } from './totp.ts';
import type { Method, MethodRegistry, MethodRepository } from './types.ts';

export type * from './types.ts';
export type { TotpMethod } from './totp.ts';
export type { PasskeyMethod, PasskeyUse } from './passkey.ts';
export { maskEmail, maskPhone } from './mask.ts';
export { normaliseEmail } from './email.ts';
export { normalisePhone } from './sms.ts';

export interface MethodDeps {
  config: Config;
  codes: CodeService;
  delivery: DeliveryPort;
  secretBox: SecretBox;
  clock: Clock;
  methodRepo: MethodRepository;
  /** Passkeys' own storage, and where their checks are audited. */
  passkeys: { repo: PasskeyRepository; challenges: ChallengeStore; audit: AuditSink };
  /** Methods that are no registered type (the helpdesk's pass), added by the composition root. */
  extra?: readonly Method[];
}

/** Looks methods up by id; flows and pages never name one. */
export function methodRegistry(list: readonly Method[]): MethodRegistry {
  const byId = new Map(list.map((m) => [m.id, m]));
  return {
    all: list,
    get: (id) => byId.get(id),
    of(type: MethodType) {
      const method = byId.get(type);
      if (!method) throw new Error(`no method registered for type ${type}`);
      return method;
    },
  };
}

/** One file per method; a new method is one file and one line here. */
export function createMethods(deps: MethodDeps): MethodRegistry {
  const { config, codes, delivery, secretBox, clock, methodRepo } = deps;
  const byType: Record<MethodType, Method> = {
    email: createEmailMethod({ codes, delivery }),
    sms: createSmsMethod({ codes, delivery, sms: config.delivery.sms }),
    // The issuer's host names this service in the authenticator app (several deployments, one app).
    totp: createTotpMethod({ secretBox, clock, methodRepo, issuerName: `oidc-sspr (${new URL(config.issuer).host})` }),
    recovery_codes: createRecoveryCodesMethod({ secretBox, methodRepo, hasher: createKeyedHasher(config.secrets.encryption_keys, 'recovery-codes') }),
    passkey: createPasskeyMethod({ issuer: config.issuer, clock, ...deps.passkeys }),
  };
  return methodRegistry([...METHOD_TYPES.map((type) => byType[type]), ...(deps.extra ?? [])]);
}
