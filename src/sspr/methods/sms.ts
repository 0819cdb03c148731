import type { CountryCode } from 'libphonenumber-js';
import { lazy } from '../../lazy.ts';

const phoneNumbers = lazy<typeof import('libphonenumber-js')>('libphonenumber-js');
import type { DeliveryConfig } from '../../config/schema.ts';
import { MethodInvalidTarget } from '../errors.ts';
import type { CodeMethod } from './types.ts';
import { maskPhone } from './mask.ts';
import { sendCodeVia, type CodeChannelDeps } from './send.ts';

/**
 * E.164 in an allowed country, or MethodInvalidTarget. The country check happens here, before any
 * code is issued, as well as in the SMS transport: SMS-pumping fraud is refused at the door.
 */
export function normalisePhone(input: string, sms: DeliveryConfig['sms']): string {
  const value = input.normalize('NFKC').trim();
  if (!value || value.length > 40) throw new MethodInvalidTarget({ detail: 'sms: empty or too long' });
  const phone = phoneNumbers().parsePhoneNumberFromString(value, sms.default_region.toUpperCase() as CountryCode);
  if (!phone || !phone.isValid()) throw new MethodInvalidTarget({ detail: 'sms: not a valid number' });
  const allowed = sms.allowed_countries.map((c) => c.toUpperCase());
  if (!phone.country || !allowed.includes(phone.country)) {
    throw new MethodInvalidTarget({ detail: `sms: country ${phone.country ?? 'unknown'} not allowed`, params: { reason: 'country' } });
  }
  return phone.number;
}

/** SMS codes: the code goes to the number the user typed, normalised to E.164. */
export function createSmsMethod(deps: CodeChannelDeps & { sms: DeliveryConfig['sms'] }): CodeMethod {
  return {
    type: 'sms',
    normaliseTarget: (input) => normalisePhone(input, deps.sms),
    mask: maskPhone,
    sendCode: (input, t) => sendCodeVia(deps, 'sms', input, t),
    async verifyCode({ flowId, code }, t) {
      const r = await deps.codes.check({ flowId, channel: 'sms', code }, t);
      return { accountId: r.accountId, target: r.target };
    },
  };
}
