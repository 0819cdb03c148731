import type { CountryCode } from 'libphonenumber-js';
import { lazy } from '../lazy.ts';
import { AdminError } from './errors.ts';

const phoneNumbers = lazy<typeof import('libphonenumber-js')>('libphonenumber-js');

/**
 * How the admin service reads what an admin typed. Login names: trimmed, NFC-normalised and
 * lowercased (see accounts.ts). Group names: kept as typed. Email and phone: profile claims; a phone
 * number becomes E.164, one typed without `+country` read in the configured default region.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function invalid(field: string, message: string): AdminError {
  return new AdminError('invalid_input', `${field}: ${message}`, { field });
}

/** Trimmed, NFC, lowercased login; throws `invalid_input`. */
export function normaliseLogin(input: string): string {
  const login = input.normalize('NFC').trim().toLowerCase();
  if (login.length === 0) throw invalid('login', 'must not be empty');
  if (login.length > 190) throw invalid('login', 'must be at most 190 characters');
  if (CONTROL.test(login)) throw invalid('login', 'must not contain control characters');
  return login;
}

export function normaliseGroupName(input: string): string {
  const name = input.normalize('NFC').trim();
  if (name.length === 0) throw invalid('group', 'must not be empty');
  if (name.length > 190) throw invalid('group', 'must be at most 190 characters');
  if (CONTROL.test(name)) throw invalid('group', 'must not contain control characters');
  return name;
}

export function normaliseEmail(input: string | null | undefined): string | null {
  if (input == null) return null;
  const email = input.normalize('NFC').trim();
  if (email === '') return null;
  if (email.length > 320 || !EMAIL.test(email) || CONTROL.test(email)) throw invalid('email', `"${email}" is not a valid email address`);
  return email;
}

export function normaliseName(input: string | null | undefined): string | null {
  if (input == null) return null;
  const name = input.normalize('NFC').trim();
  if (name === '') return null;
  if (name.length > 200) throw invalid('name', 'must be at most 200 characters');
  if (CONTROL.test(name)) throw invalid('name', 'must not contain control characters');
  return name;
}

/** E.164, reading a number without `+country` in `region`; throws `invalid_input`. */
export function normalisePhone(input: string | null | undefined, region: string): string | null {
  if (input == null) return null;
  const raw = input.trim();
  if (raw === '') return null;
  const parsed = phoneNumbers().parsePhoneNumberFromString(raw, region.toUpperCase() as CountryCode);
  if (!parsed || !parsed.isValid()) {
    throw invalid('phone', `"${raw}" is not a valid phone number (numbers without +country are read as ${region.toUpperCase()})`);
  }
  return parsed.number;
}

export function requirePassword(password: string): void {
  if (typeof password !== 'string' || password.length === 0) throw invalid('password', 'must not be empty');
}
