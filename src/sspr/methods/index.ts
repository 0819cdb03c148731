import type { Clock } from '../../clock.ts';
import type { Config } from '../../config/schema.ts';
import type { DeliveryPort } from '../../delivery/index.ts';
import type { CodeService } from '../codes.ts';
import type { SecretBox } from '../crypto.ts';
import { createEmailMethod } from './email.ts';
import { createSmsMethod } from './sms.ts';
import { createTotpMethod } from './totp.ts';
import type { Methods } from './types.ts';

export type * from './types.ts';
export { maskEmail, maskPhone } from './mask.ts';
export { normaliseEmail } from './email.ts';
export { normalisePhone } from './sms.ts';

export interface MethodDeps {
  config: Config;
  codes: CodeService;
  delivery: DeliveryPort;
  secretBox: SecretBox;
  clock: Clock;
}

/** One file per method; a new method is one file and one line here. */
export function createMethods(deps: MethodDeps): Methods {
  const { config, codes, delivery, secretBox, clock } = deps;
  return {
    email: createEmailMethod({ codes, delivery }),
    sms: createSmsMethod({ codes, delivery, sms: config.delivery.sms }),
    // The issuer's host names this service in the authenticator app (several deployments, one app).
    totp: createTotpMethod({ secretBox, clock, issuerName: `oidc-sspr (${new URL(config.issuer).host})` }),
  };
}
