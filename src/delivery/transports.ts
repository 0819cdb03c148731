import type { CountryCode } from 'libphonenumber-js';
import { lazy } from '../lazy.ts';

const phoneNumbers = lazy<typeof import('libphonenumber-js')>('libphonenumber-js');

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

export interface SmsRecipientPolicy {
  /** ISO 3166 alpha-2 codes SMS may go to (SMS-pumping defence). */
  allowedCountries: readonly string[];
  /** Region for numbers typed without +country. */
  defaultRegion: string;
}

/**
 * Parses a number into E.164 and refuses countries outside the allowed list. The error names the
 * country, never the number, because its message ends up in the audit log.
 */
export function normalizeSmsRecipient(to: string, policy: SmsRecipientPolicy): string {
  const phone = phoneNumbers().parsePhoneNumberFromString(to, policy.defaultRegion.toUpperCase() as CountryCode);
  if (!phone || !phone.isValid()) throw new PermanentDeliveryError('SMS refused: not a valid phone number');
  const country = phone.country;
  const allowed = policy.allowedCountries.map((c) => c.toUpperCase());
  if (!country || !allowed.includes(country)) {
    throw new PermanentDeliveryError(`SMS refused: destination country ${country ?? 'unknown'} is not in allowed_countries`);
  }
  return phone.number;
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

