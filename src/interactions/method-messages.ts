import type { Language } from '../i18n/index.ts';
import type { SsprError } from '../sspr/errors.ts';
import type { PageMessage } from './views.ts';

/**
 * What a page says when an SsprError of the methods' steps refuses a form. A refused phone number
 * names the format (`+31 6 12345678`) and the countries SMS may go to, in the page's language, instead
 * of "not a usable email address or phone number". Shared by registration and (if it wants) the reset.
 */

/** SsprError codes whose generic text (errors:sspr.*) fits registration too; the rest have our own. */
const GENERIC = new Set(['code_invalid', 'code_expired', 'code_used', 'too_many_attempts', 'method_invalid_target', 'method_not_allowed']);

/** "Nederland, België en Duitsland": allowed countries by their names in `lang`. */
export function countryList(codes: readonly string[], lang: Language): string {
  const names = new Intl.DisplayNames([lang], { type: 'region' });
  const list = codes.map((c) => {
    try {
      return names.of(c) ?? c;
    } catch {
      return c;
    }
  });
  return new Intl.ListFormat(lang, { type: 'conjunction' }).format(list);
}

/** The message for a refused phone number, or null when `err` is about something else. */
export function phoneMessage(err: SsprError, lang: Language): PageMessage | null {
  const p = err.params ?? {};
  const hint = { example: typeof p.example === 'string' ? p.example : '', countries: Array.isArray(p.countries) ? countryList(p.countries as string[], lang) : '' };
  if (err.code === 'number_not_mobile') return { id: 'registration:errors.phone_not_mobile', type: 'error', params: hint };
  if (err.code !== 'method_invalid_target') return null;
  if (p.reason === 'phone_invalid') return { id: 'registration:errors.phone_invalid', type: 'error', params: hint };
  if (p.reason === 'phone_country') return { id: 'registration:errors.phone_country', type: 'error', params: hint };
  return null;
}

export function messageFor(err: SsprError, lang: Language = 'en'): PageMessage {
  const reason = err.params?.reason;
  const phone = phoneMessage(err, lang);
  if (phone) return phone;
  if (err.code === 'method_not_allowed' && reason === 'below_required') return { id: 'registration:errors.below_required', type: 'error', params: { count: err.params?.count } };
  if (err.code === 'flow_invalid' && reason === 'too_few_methods') return { id: 'registration:errors.too_few_methods', type: 'error' };
  if (err.code === 'method_invalid_target') return { id: 'registration:errors.email_invalid', type: 'error' };
  if (GENERIC.has(err.code)) return { id: `errors:sspr.${err.code}`, type: 'error', params: err.params };
  return { id: `registration:errors.${err.code}`, type: 'error', params: err.params };
}
