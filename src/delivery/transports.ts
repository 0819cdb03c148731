import { checkSmsTarget, type SmsPolicy } from './phone.ts';

export type Channel = 'email' | 'sms';

export interface OutgoingMessage {
  channel: Channel;
  /** Email address, or a phone number (E.164 or national in the default region). */
  to: string;
  subject?: string;
  text: string;
}

/** One way of sending a message. Throws on failure; a `PermanentDeliveryError` is not retried. */
export interface Transport {
  /** Sends one message; resolves when the provider accepted it. */
  send(msg: OutgoingMessage): Promise<void>;
  /** Releases connections, if the transport holds any. */
  close?(): void;
}

export type LogLevel = 'info' | 'warn' | 'error';
/** Logging seam: the composition root adapts it to pino; the default writes to the console. */
export type LogFn = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

export const consoleLog: LogFn = (level, message, fields) => {
  const line = fields ? `${message} ${JSON.stringify(fields)}` : message;
  if (level === 'info') console.log(line);
  else if (level === 'warn') console.warn(line);
  else console.error(line);
};

/** A failure that retrying cannot fix (refused destination, rejected mailbox, bad gateway credentials). */
export class PermanentDeliveryError extends Error {
  override name = 'PermanentDeliveryError';
  readonly permanent = true;
}

export function isPermanent(err: unknown): boolean {
  return err instanceof PermanentDeliveryError;
}

/** Where SMS may go (SMS-pumping defence): allowed countries, numbers typed without +country. */
export type SmsRecipientPolicy = SmsPolicy;

/**
 * Parses a number into E.164 and refuses countries outside the allowed list and numbers that are not
 * mobile (src/delivery/phone.ts), also for numbers registered before that rule. The error names the
 * country or type, never the number, because its message ends up in the audit log.
 */
export function normalizeSmsRecipient(to: string, policy: SmsRecipientPolicy): string {
  const check = checkSmsTarget(to, policy);
  if (check.ok) return check.e164;
  switch (check.reason) {
    case 'invalid': throw new PermanentDeliveryError('SMS refused: not a valid phone number');
    case 'country': throw new PermanentDeliveryError(`SMS refused: destination country ${check.country ?? 'unknown'} is not in allowed_countries`);
    case 'number_type': throw new PermanentDeliveryError(`SMS refused: a ${check.type} number in ${check.country} cannot receive codes`);
  }
}

/** Wraps any SMS transport (the outbox too) so every SMS is normalised to E.164 and country-checked. */
export function withSmsRecipientPolicy(transport: Transport, policy: SmsRecipientPolicy): Transport {
  return {
    async send(msg) {
      const to = msg.channel === 'sms' ? normalizeSmsRecipient(msg.to, policy) : msg.to;
      await transport.send({ ...msg, to });
    },
    close: transport.close ? () => transport.close?.() : undefined,
  };
}

