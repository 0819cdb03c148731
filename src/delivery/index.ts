import type { AuditSink } from '../audit/index.ts';
import type { SecretBox } from '../sspr/crypto.ts';
import type { Clock } from '../clock.ts';
import type { DeliveryConfig } from '../config/schema.ts';
import { createTranslator, type Language, type Translator } from '../i18n/index.ts';
import type { TransactionHandle } from '../sspr/ports.ts';
import type { DeliveryRow, Store } from '../store/index.ts';
import { renderMessage, type Template, type TemplateParams } from './messages.ts';
import { consoleEcho, createOutboxTransport } from './outbox.ts';
import { createDeliveryQueue, openBody, type EnqueueInput } from './queue.ts';
import { createSmsHttpTransport } from './sms-http.ts';
import { createSmtpTransport } from './smtp.ts';
import { consoleLog, withSmsRecipientPolicy, type Channel, type LogFn, type Transport } from './transports.ts';

export { renderMessage, formatTime, TEMPLATES } from './messages.ts';
export type { MethodType, RenderedMessage, Template, TemplateParams } from './messages.ts';
export { createDeliveryQueue, openBody, scrub, SENT_MARKER, FAILED_MARKER } from './queue.ts';
export type { DeliveryQueue, DeliveryQueueOptions, EnqueueInput } from './queue.ts';
export { createOutboxTransport, type OutboxOptions } from './outbox.ts';
export { createSmtpTransport, type SmtpOptions } from './smtp.ts';
export { createSmsHttpTransport, type SmsHttpOptions } from './sms-http.ts';
export { consoleLog, normalizeSmsRecipient, withSmsRecipientPolicy, PermanentDeliveryError, isPermanent } from './transports.ts';
export type { Channel, LogFn, LogLevel, OutgoingMessage, SmsRecipientPolicy, Transport } from './transports.ts';

export interface DeliveryDeps {
  store: Store;
  clock: Clock;
  audit: AuditSink;
  /** Seals queued message bodies until they are sent (built from `secrets.encryption_keys`). */
  secretBox: Pick<SecretBox, 'seal' | 'open'>;
  log?: LogFn;
  /** For `enqueueMessage`; default a fresh one. */
  translator?: Translator;
  /** Where `OIDC_SSPR_SMS_TOKEN` is read; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** IANA zone for times in messages (config `timezone`); empty or left out: the server's. */
  timeZone?: string;
  /** Replace a configured transport (an embedding host's own mailer, a test double). */
  transports?: Partial<Record<Channel, Transport>>;
}

export interface MessageInput<K extends Template> {
  channel: Channel;
  to: string;
  lang: Language;
  template: K;
  params: TemplateParams[K];
  accountId?: string | null;
  correlationId?: string | null;
}

export type DeliveryService = ReturnType<typeof createDelivery>;
/** What SSPR flows need from delivery: render-and-queue in the caller's transaction. */
export type DeliveryPort = Pick<DeliveryService, 'enqueueMessage' | 'enqueue'>;

/** Builds the transports named in `delivery` and the queue that sends through them. */
export function createDelivery(config: DeliveryConfig, deps: DeliveryDeps) {
  const log = deps.log ?? consoleLog;
  const translator = deps.translator ?? createTranslator();
  const policy = { allowedCountries: config.sms.allowed_countries, defaultRegion: config.sms.default_region };
  // Printed on the console only where `npm start` asked for it (development), never in production.
  const env = deps.env ?? process.env;
  const echo = env.OIDC_SSPR_OUTBOX_ECHO === '1' && env.NODE_ENV !== 'production' ? consoleEcho : undefined;
  const outbox = createOutboxTransport({ dir: config.outbox_dir, clock: deps.clock, log, echo });

  const email: Transport = deps.transports?.email ?? (config.email.transport === 'smtp'
    ? createSmtpTransport({ ...config.email.smtp, from: config.email.from })
    : outbox);
  const sms: Transport = deps.transports?.sms ?? (config.sms.transport === 'http'
    ? createSmsHttpTransport({ ...config.sms.http, ...policy, env: deps.env })
    // The outbox obeys allowed_countries too, so development shows what production would refuse.
    : withSmsRecipientPolicy(outbox, policy));
  const transports = { email, sms };

  const queue = createDeliveryQueue({ store: deps.store, clock: deps.clock, transports, audit: deps.audit, secretBox: deps.secretBox, log });

  return {
    ...queue,
    transports,
    /** The text of a queued row (opened when sealed): for tests and support, never for pages or logs. */
    bodyOf: (row: Pick<DeliveryRow, 'id' | 'body'>) => openBody(deps.secretBox, row),
    /** Renders a template in `lang` and queues it (in `t`, the transaction of the causing step). */
    enqueueMessage<K extends Template>(input: MessageInput<K>, t?: TransactionHandle): Promise<string> {
      const rendered = renderMessage(translator, input.lang, input.template, input.params, input.channel, deps.timeZone);
      const message: EnqueueInput = {
        channel: input.channel,
        to: input.to,
        subject: rendered.subject,
        text: rendered.text,
        accountId: input.accountId,
        correlationId: input.correlationId,
      };
      return queue.enqueue(message, t);
    },
    /** Stops the worker (waiting for a batch in flight) and closes transport connections. */
    async close(): Promise<void> {
      await queue.stop();
      email.close?.();
      sms.close?.();
    },
  };
}
