import type { Logger } from 'pino';
import type { AuditLog, AuditSink } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { DeliveryPort, DeliveryService } from '../delivery/index.ts';
import type { CodeService } from './codes.ts';
import type { SecretBox } from './crypto.ts';
import type { MethodRegistry } from './methods/types.ts';
import type { PasswordPolicy } from './password-policy.ts';
import type { AccountDirectory, FlowRepository, MethodRepository, UnitOfWork } from './ports.ts';
import type { Throttle } from './throttle.ts';

/**
 * What the flows and the register prompt use: ports and domain services only, so the domain runs
 * on in-memory ports in tests (test/support/memory-sspr.ts) as well as on our database.
 */
export interface DomainDeps {
  config: Config;
  /** Where steps open their one transaction (flows call `store.transaction`). */
  store: UnitOfWork;
  flows: FlowRepository;
  clock: Clock;
  log: Logger;
  directory: AccountDirectory;
  audit: AuditSink;
  delivery: DeliveryPort;
  codes: CodeService;
  throttle: Throttle;
  secretBox: SecretBox;
  methods: MethodRegistry;
  methodRepo: MethodRepository;
  passwordPolicy: PasswordPolicy;
}

/**
 * Everything the SSPR flows, prompt and routes use, built once by the composition root and handed
 * down as one object (modules pick what they need). The routes and our server also query the audit
 * log and the delivery queue, hence the full services here.
 */
export interface SsprDeps extends DomainDeps {
  audit: AuditLog;
  delivery: DeliveryService;
}
