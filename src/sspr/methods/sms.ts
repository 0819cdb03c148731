import type { DeliveryConfig } from '../../config/schema.ts';
import { checkSmsTarget, exampleMobileNumber } from '../../delivery/phone.ts';
import { MethodInvalidTarget, NumberNotMobile } from '../errors.ts';
import type { TargetMethod } from './types.ts';
import { maskPhone } from './mask.ts';
import { sendCodeVia, type CodeChannelDeps } from './send.ts';

/**
 * E.164 of a mobile number in an allowed country; else MethodInvalidTarget, or NumberNotMobile for a
 * premium-rate, shared-cost, landline or other number that is no handset. Checked here, before any
 * code is issued, as well as in the SMS transport: SMS-pumping fraud is refused at the door. The
 * answer depends on the typed number alone, never on an account, so the reset reveals nothing.
 */
export function normalisePhone(input: string, sms: DeliveryConfig['sms']): string {
  const value = input.normalize('NFKC').trim();
  if (!value || value.length > 40) {
    throw new MethodInvalidTarget({ detail: 'sms: empty or too long', params: { reason: 'phone_invalid', example: exampleMobileNumber(sms.default_region) ?? '', countries: sms.allowed_countries.map((c) => c.toUpperCase()) } });
  }
  const check = checkSmsTarget(value, { defaultRegion: sms.default_region, allowedCountries: sms.allowed_countries });
  if (check.ok) return check.e164;
  // What to type instead: the format, by example, and where SMS may go (pages localise the country names).
  const hint = { example: exampleMobileNumber(sms.default_region) ?? '', countries: sms.allowed_countries.map((c) => c.toUpperCase()) };
  switch (check.reason) {
    case 'invalid': throw new MethodInvalidTarget({ detail: 'sms: not a valid number', params: { reason: 'phone_invalid', ...hint } });
    case 'country': throw new MethodInvalidTarget({ detail: `sms: country ${check.country ?? 'unknown'} not allowed`, params: { reason: 'phone_country', ...hint } });
    case 'number_type': throw new NumberNotMobile({ detail: `sms: ${check.type} number in ${check.country}`, params: { type: check.type.toLowerCase(), ...hint } });
  }
}

/** SMS codes: the code goes to the number the user typed, normalised to E.164. */
export function createSmsMethod(deps: CodeChannelDeps & { sms: DeliveryConfig['sms'] }): TargetMethod {
  return {
    id: 'sms',
    kind: 'target',
    channel: 'sms',
    registrable: true,
    provesAll: false,
    amr: ['sms'],
    proofInput: { digits: true, maxLength: deps.codes.length },
    sendLimit: 'sms_sends',
    profileField: 'phone',
    describe: (stored) => ({ masked: stored.target === null ? null : maskPhone(stored.target) }),
    normaliseTarget: (input) => normalisePhone(input, deps.sms),
    mask: maskPhone,
    sendCode: (input, t) => sendCodeVia(deps, 'sms', input, t),
    async verifyCode({ flowId, code }, t) {
      const r = await deps.codes.check({ flowId, channel: 'sms', code }, t);
      return { accountId: r.accountId, target: r.target };
    },
  };
}
