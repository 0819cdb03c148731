import type { Transporter } from 'nodemailer';
import { PermanentDeliveryError, type Transport } from './transports.ts';

export interface SmtpOptions {
  host: string;
  port: number;
  /** true: TLS from the first byte (port 465); false: STARTTLS when the server offers it. */
  secure: boolean;
  /** Empty: no authentication. */
  user?: string;
  pass?: string;
  /** The From header, e.g. `oidc-sspr <no-reply@example.org>`. */
  from: string;
  /** Connection and greeting timeout; the socket gets three times as much. Default 10 s. */
  timeoutMs?: number;
}

/**
 * Email through an SMTP relay (nodemailer). A 5xx answer (mailbox refused) is not retried.
 * nodemailer (~9 MiB of memory once loaded) is imported with the first message: a server that never
 * sends email, or not yet, does not carry it.
 */
export function createSmtpTransport(options: SmtpOptions): Transport {
  const timeout = options.timeoutMs ?? 10_000;
  let transporter: Promise<Transporter> | undefined;
  const connect = () => (transporter ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport({
    host: options.host,
    port: options.port,
    secure: options.secure,
    auth: options.user ? { user: options.user, pass: options.pass ?? '' } : undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout * 3,
  })));
  return {
    async send(msg) {
      const smtp = await connect();
      try {
        await smtp.sendMail({ from: options.from, to: msg.to, subject: msg.subject ?? '', text: msg.text });
      } catch (err) {
        const code = (err as { responseCode?: unknown }).responseCode;
        if (typeof code === 'number' && code >= 500 && code < 600) {
          throw new PermanentDeliveryError(`SMTP server refused the message (${code})`);
        }
        throw err;
      }
    },
    close: () => {
      // Nothing to close when no message was sent (or nodemailer failed to load: send said so).
      void transporter?.then((smtp) => smtp.close(), () => undefined);
    },
  };
}
