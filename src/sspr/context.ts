import type { Logger } from 'pino';
import type { AuditLog } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { DeliveryService } from '../delivery/index.ts';
import type { CodeService } from './codes.ts';
import type { SecretBox } from './crypto.ts';
import type { Methods } from './methods/types.ts';
import type { PasswordPolicy } from './password-policy.ts';
import type { AccountDirectory, FlowRepository, MethodRepository, UnitOfWork } from './ports.ts';
import type { Throttle } from './throttle.ts';

/**
 * Everything the SSPR flows, prompt and routes use, built once by the composition root and handed
 * down as one object (modules pick what they need; tests build it with real parts).
 */
export interface SsprDeps {
  config: Config;
  /** Where steps open their one transaction (flows call `store.transaction`). */
  store: UnitOfWork;
  flows: FlowRepository;
  clock: Clock;
  log: Logger;
  directory: AccountDirectory;
  audit: AuditLog;
  delivery: DeliveryService;
  codes: CodeService;
  throttle: Throttle;
  secretBox: SecretBox;
  methods: Methods;
  methodRepo: MethodRepository;
  passwordPolicy: PasswordPolicy;
}
