import { splitE164 } from '../../delivery/phone.ts';

/**
 * Masks for pages, notices and CLI output: enough for the owner to recognise their own address or
 * number, too little for anyone else to learn it. Pure functions, no configuration.
 */

const DOT = '•';

/** `alice@example.org` → `a•••@example.org`. The domain stays: users recognise "my work address". */
export function maskEmail(address: string): string {
  const at = address.lastIndexOf('@');
  if (at <= 0) return `${DOT.repeat(3)}`;
  const local = address.slice(0, at);
  return `${[...local][0]}${DOT.repeat(3)}${address.slice(at)}`;
}

/** `+31612345678` → `+31 •••••••78`: country code and the last two digits only. */
export function maskPhone(e164: string): string {
  const phone = splitE164(e164);
  const national = phone ? phone.national : e164.replace(/\D/g, '');
  const prefix = phone ? `+${phone.callingCode} ` : '';
  const shown = national.slice(-2);
  return `${prefix}${DOT.repeat(Math.max(3, national.length - 2))}${shown}`;
}
