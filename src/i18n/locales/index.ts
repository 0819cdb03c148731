import enPages from './en/pages.ts';
import nlPages from './nl/pages.ts';
import enMail from './en/mail.ts';
import nlMail from './nl/mail.ts';
import enErrors from './en/errors.ts';
import nlErrors from './nl/errors.ts';
import enReset from './en/reset.ts';
import nlReset from './nl/reset.ts';
import enRegistration from './en/registration.ts';
import nlRegistration from './nl/registration.ts';
import enPasskey from './en/passkey.ts';
import nlPasskey from './nl/passkey.ts';
import enMfa from './en/mfa.ts';
import nlMfa from './nl/mfa.ts';

/** Every catalog, by language then namespace. A test checks both languages have the same keys. */
export const catalogs = {
  en: { pages: enPages, mail: enMail, errors: enErrors, reset: enReset, registration: enRegistration, passkey: enPasskey, mfa: enMfa },
  nl: { pages: nlPages, mail: nlMail, errors: nlErrors, reset: nlReset, registration: nlRegistration, passkey: nlPasskey, mfa: nlMfa },
};
