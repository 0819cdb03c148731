import nodemailer from 'nodemailer';
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

/** Email through an SMTP relay (nodemailer). A 5xx answer (mailbox refused) is not retried. */
export function createSmtpTransport(options: SmtpOptions): Transport {
  const timeout = options.timeoutMs ?? 10_000;
  const transporter = nodemailer.createTransport({
    host: options.host,
    port: options.port,
    secure: options.secure,
    auth: options.user ? { user: options.user, pass: options.pass ?? '' } : undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: timeout * 3,
  });
  return {
    async send(msg) {
      try {
        await transporter.sendMail({ from: options.from, to: msg.to, subject: msg.subject ?? '', text: msg.text });
      } catch (err) {
        const code = (err as { responseCode?: unknown }).responseCode;
        if (typeof code === 'number' && code >= 500 && code < 600) {
          throw new PermanentDeliveryError(`SMTP server refused the message (${code})`);
        }
        throw err;
      }
    },
    close: () => transporter.close(),
  };
}
