import { normalizeSmsRecipient, PermanentDeliveryError, type SmsRecipientPolicy, type Transport } from './transports.ts';

export interface SmsHttpOptions extends SmsRecipientPolicy {
  /** The gateway's endpoint; the message is POSTed here. */
  url: string;
  /** json: `{"to": "+31612345678", "text": "..."}`; form: `to=...&text=...` urlencoded. */
  format: 'json' | 'form';
  /** Extra headers; the literal `<token>` in a value is replaced by `OIDC_SSPR_SMS_TOKEN`. */
  headers?: Record<string, string>;
  /** Where `OIDC_SSPR_SMS_TOKEN` is read; default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Default 10 s. */
  timeoutMs?: number;
}

const TOKEN = '<token>';

/**
 * SMS through an HTTP gateway. Numbers are normalised to E.164 and refused outside the allowed
 * countries before any request. Any answer other than 2xx is an error; 4xx other than 408/429 is not
 * retried (wrong credentials or a refused number will not heal).
 */
export function createSmsHttpTransport(options: SmsHttpOptions): Transport {
  const env = options.env ?? process.env;
  const timeoutMs = options.timeoutMs ?? 10_000;
  const configured = options.headers ?? {};
  const needsToken = Object.values(configured).some((v) => v.includes(TOKEN));

  return {
    async send(msg) {
      const to = normalizeSmsRecipient(msg.to, options);
      const token = env.OIDC_SSPR_SMS_TOKEN;
      if (needsToken && !token) throw new PermanentDeliveryError('OIDC_SSPR_SMS_TOKEN is not set but delivery.sms.http.headers uses <token>');
      const headers: Record<string, string> = {};
      let body: string;
      if (options.format === 'json') {
        headers['content-type'] = 'application/json';
        body = JSON.stringify({ to, text: msg.text });
      } else {
        headers['content-type'] = 'application/x-www-form-urlencoded';
        body = new URLSearchParams({ to, text: msg.text }).toString();
      }
      for (const [name, value] of Object.entries(configured)) {
        headers[name.toLowerCase()] = token ? value.split(TOKEN).join(token) : value;
      }
      let res: Response;
      try {
        res = await fetch(options.url, { method: 'POST', headers, body, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
      } catch (err) {
        const e = err as Error & { cause?: { code?: string; message?: string } };
        const why = e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
        throw new Error(`SMS gateway unreachable: ${why}`);
      }
      await res.arrayBuffer().catch(() => undefined); // drain, so the connection can be reused
      if (res.status >= 200 && res.status < 300) return;
      const message = `SMS gateway answered HTTP ${res.status}`;
      if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) throw new PermanentDeliveryError(message);
      throw new Error(message);
    },
  };
}
