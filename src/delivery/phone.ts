import type { CountryCode, PhoneNumberType } from 'libphonenumber-js';
import { lazy } from '../lazy.ts';

/**
 * Phone numbers as SMS targets, for every phone path of the server (method targets, the SMS
 * transports, masks): one copy of the metadata in memory, loaded on first use, because the sign-in
 * path never needs it.
 *
 * It is `libphonenumber-js/max`, not the default `min` metadata: only the full metadata knows number
 * types (`getType()`), and so tells a mobile number from a premium-rate one. It adds about 73 KB of
 * JSON on disk and about 0.1 MiB of heap over `min` (measured in docs/security.md); loading both
 * would add 0.6 MiB, hence one module.
 */
const phoneNumbers = lazy<typeof import('libphonenumber-js/max')>('libphonenumber-js/max');
/** Example mobile numbers per country (about 4 KB), only for the hint on a refused number. */
const mobileExamples = lazy<import('libphonenumber-js').Examples>('libphonenumber-js/mobile/examples');

/**
 * Types that reach a handset: MOBILE, and FIXED_LINE_OR_MOBILE where the numbering plan cannot tell
 * them apart (US, CA). Every other type is refused: premium-rate and shared-cost numbers earn their
 * owner money per message (SMS-pumping fraud), and toll-free, landline, VoIP, personal, pager, UAN
 * and voicemail numbers cannot receive a text reliably or are not tied to one device (NIST SP
 * 800-63B's reason to distrust VoIP for out-of-band codes).
 */
export const SMS_NUMBER_TYPES: ReadonlySet<PhoneNumberType> = new Set(['MOBILE', 'FIXED_LINE_OR_MOBILE']);

export interface SmsPolicy {
  /** ISO 3166 alpha-2 codes SMS may go to. */
  allowedCountries: readonly string[];
  /** Region for numbers typed without +country. */
  defaultRegion: string;
}

export type SmsTargetCheck =
  | { ok: true; e164: string; country: string; type: PhoneNumberType | undefined }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'country'; country: string | undefined }
  | { ok: false; reason: 'number_type'; country: string; type: PhoneNumberType };

/**
 * Whether `input` may receive SMS codes: a valid number, in an allowed country, of a type that
 * reaches a handset. A valid number whose type the metadata cannot tell passes: refusing it would
 * lock its owner out, while allowed_countries and the send throttles still bound what it can cost.
 */
export function checkSmsTarget(input: string, policy: SmsPolicy): SmsTargetCheck {
  const phone = phoneNumbers().parsePhoneNumberFromString(input, policy.defaultRegion.toUpperCase() as CountryCode);
  if (!phone || !phone.isValid()) return { ok: false, reason: 'invalid' };
  const country = phone.country;
  const allowed = policy.allowedCountries.map((c) => c.toUpperCase());
  if (!country || !allowed.includes(country)) return { ok: false, reason: 'country', country };
  const type = phone.getType();
  if (type !== undefined && !SMS_NUMBER_TYPES.has(type)) return { ok: false, reason: 'number_type', country, type };
  return { ok: true, e164: phone.number, country, type };
}

/** Country calling code and national number of an E.164 number (masks), or null. */
export function splitE164(e164: string): { callingCode: string; national: string } | null {
  const phone = phoneNumbers().parsePhoneNumberFromString(e164);
  return phone ? { callingCode: String(phone.countryCallingCode), national: String(phone.nationalNumber) } : null;
}

/**
 * A mobile number of `region` written the way we read it best (`+31 6 12345678`), for the message that
 * names the expected format; null for a region the metadata does not know.
 */
export function exampleMobileNumber(region: string): string | null {
  try {
    return phoneNumbers().getExampleNumber(region.toUpperCase() as CountryCode, mobileExamples())?.formatInternational() ?? null;
  } catch {
    return null;
  }
}
