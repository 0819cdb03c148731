import type en from '../en/mail.ts';

/** Same keys as the English catalog (the compiler checks the shape; a test walks both). */
type Shape<T> = { readonly [K in keyof T]: T[K] extends string ? string : Shape<T[K]> };

export default {
  method: {
    email: 'e-mail',
    sms: 'sms',
    totp: 'authenticator-app',
    recovery_codes: 'herstelcodes',
    passkey: 'toegangssleutel',
  },
  common: {
    greeting: 'Hallo {{name}},',
    greeting_anonymous: 'Hallo,',
    expires_one: 'De code verloopt over {{count}} minuut.',
    expires_other: 'De code verloopt over {{count}} minuten.',
    never_share: 'Deel deze code met niemand. Uw helpdesk vraagt nooit naar deze code.',
    not_you: 'Was u dit niet? Neem dan direct contact op met uw helpdesk.',
    not_you_contact: 'Was u dit niet? Neem dan direct contact op met uw helpdesk: {{contact}}',
    automatic: 'Dit bericht is automatisch verzonden door oidc-sspr. Antwoorden op dit bericht worden niet gelezen.',
    signature: 'oidc-sspr',
  },
  code: {
    registration: {
      subject: 'Uw verificatiecode voor oidc-sspr',
      text: 'Gebruik deze verificatiecode om dit adres te bevestigen als herstelmethode. Daarmee kunt u later met selfservice voor wachtwoordherstel zelf uw wachtwoord opnieuw instellen:\n\n{{code}}\n\n{{expiry}} Hebt u deze code niet aangevraagd? Dan kunt u dit bericht negeren.',
      sms: '{{code}} is uw verificatiecode voor oidc-sspr. De code verloopt over {{minutes}} min.',
    },
    reset: {
      subject: 'Uw verificatiecode om uw wachtwoord opnieuw in te stellen',
      text: 'Iemand, hopelijk u, wil het wachtwoord van uw account opnieuw instellen via selfservice voor wachtwoordherstel. Gebruik deze verificatiecode om door te gaan:\n\n{{code}}\n\n{{expiry}} Hebt u dit niet aangevraagd? Dan kunt u dit bericht negeren: uw wachtwoord is niet gewijzigd.',
      sms: '{{code}} is uw verificatiecode van oidc-sspr om uw wachtwoord opnieuw in te stellen. De code verloopt over {{minutes}} min. Deel deze code met niemand.',
    },
    sign_in: {
      subject: 'Uw aanmeldcode voor oidc-sspr',
      text: 'Iemand, hopelijk u, heeft zich met uw wachtwoord aangemeld bij uw account. Gebruik deze code als tweede stap van de aanmelding:\n\n{{code}}\n\n{{expiry}} Was u dit niet? Wijzig dan uw wachtwoord: iemand kent het.',
      sms: '{{code}} is uw aanmeldcode van oidc-sspr. De code verloopt over {{minutes}} min. Deel deze code met niemand.',
    },
  },
  notice: {
    method_added: {
      subject: 'Er is een herstelmethode aan uw account toegevoegd',
      text: 'Op {{time}} is aan uw account {{login}} een nieuwe herstelmethode ({{method}}) toegevoegd, waarmee u uw wachtwoord zelf opnieuw kunt instellen.',
      sms: 'oidc-sspr: er is een herstelmethode ({{method}}) aan uw account {{login}} toegevoegd. Was u dit niet? Neem contact op met uw helpdesk.',
    },
    method_removed: {
      subject: 'Er is een herstelmethode uit uw account verwijderd',
      text: 'Op {{time}} is een herstelmethode ({{method}}) uit uw account {{login}} verwijderd. U kunt deze methode niet meer gebruiken om uw wachtwoord opnieuw in te stellen.',
      sms: 'oidc-sspr: er is een herstelmethode ({{method}}) uit uw account {{login}} verwijderd. Was u dit niet? Neem contact op met uw helpdesk.',
    },
    password_changed: {
      subject: 'Uw wachtwoord voor oidc-sspr is gewijzigd',
      text: 'Het wachtwoord van uw account {{login}} is gewijzigd op {{time}}. Hebt u dit zelf gedaan? Dan hoeft u niets te doen.',
      sms: 'oidc-sspr: het wachtwoord van uw account {{login}} is gewijzigd. Was u dit niet? Neem contact op met uw helpdesk.',
    },
    admin_password_reset: {
      subject: 'Het wachtwoord van een beheerder is opnieuw ingesteld',
      text: 'Het wachtwoord van het beheerdersaccount {{login}} is op {{time}} opnieuw ingesteld via selfservice voor wachtwoordherstel. Had u dit niet verwacht? Controleer dan het auditlogboek en neem contact op met de eigenaar van het account.',
      sms: 'oidc-sspr: het wachtwoord van het beheerdersaccount {{login}} is opnieuw ingesteld via selfservice voor wachtwoordherstel.',
    },
    methods_reset: {
      subject: 'Uw herstelmethoden zijn opnieuw ingesteld',
      text: 'Uw helpdesk heeft op {{time}} de herstelmethoden van uw account {{login}} opnieuw ingesteld. De volgende keer dat u zich aanmeldt, wordt u gevraagd uw herstelmethoden opnieuw te registreren.',
      sms: 'oidc-sspr: uw helpdesk heeft de herstelmethoden van uw account {{login}} opnieuw ingesteld. Bij uw volgende aanmelding wordt u gevraagd ze opnieuw te registreren.',
    },
  },
} as const satisfies Shape<typeof en>;
