import type en from '../en/mail.ts';

/** Same keys as the English catalog (the compiler checks the shape; a test walks both). */
type Shape<T> = { readonly [K in keyof T]: T[K] extends string ? string : Shape<T[K]> };

export default {
  method: {
    email: 'e-mail',
    sms: 'sms',
    totp: 'authenticator-app',
  },
  common: {
    greeting: 'Hallo {{name}},',
    greeting_anonymous: 'Hallo,',
    expires_one: 'De code verloopt over {{count}} minuut.',
    expires_other: 'De code verloopt over {{count}} minuten.',
    never_share: 'Deel deze code met niemand. Je helpdesk vraagt er nooit om.',
    not_you: 'Was jij dit niet? Neem dan direct contact op met je helpdesk.',
    not_you_contact: 'Was jij dit niet? Neem dan direct contact op met je helpdesk: {{contact}}',
    automatic: 'Dit bericht is automatisch verzonden door oidc-sspr. Antwoorden op dit bericht worden niet gelezen.',
    signature: 'oidc-sspr',
  },
  code: {
    registration: {
      subject: 'Je verificatiecode voor oidc-sspr',
      text: 'Gebruik deze verificatiecode om dit adres te bevestigen als herstelmethode voor selfservice voor wachtwoordherstel:\n\n{{code}}\n\n{{expiry}} Heb je deze code niet aangevraagd? Dan kun je dit bericht negeren.',
      sms: '{{code}} is je verificatiecode voor oidc-sspr. De code verloopt over {{minutes}} min.',
    },
    reset: {
      subject: 'Je verificatiecode om je wachtwoord opnieuw in te stellen',
      text: 'Iemand, hopelijk jij, wil het wachtwoord van je account opnieuw instellen met selfservice voor wachtwoordherstel. Gebruik deze verificatiecode om verder te gaan:\n\n{{code}}\n\n{{expiry}} Heb je dit niet aangevraagd? Dan kun je dit bericht negeren: je wachtwoord is niet gewijzigd.',
      sms: '{{code}} is je verificatiecode van oidc-sspr om je wachtwoord opnieuw in te stellen. Verloopt over {{minutes}} min. Deel deze code met niemand.',
    },
  },
  notice: {
    totp_added: {
      subject: 'Er is een authenticator-app toegevoegd aan je account',
      text: 'Op {{time}} is een authenticator-app geregistreerd als herstelmethode voor selfservice voor wachtwoordherstel van je account {{login}}.',
      sms: 'oidc-sspr: er is een authenticator-app toegevoegd aan je account {{login}}. Was jij dit niet? Neem contact op met je helpdesk.',
    },
    method_added: {
      subject: 'Er is een herstelmethode toegevoegd aan je account',
      text: 'Op {{time}} is een nieuwe herstelmethode ({{method}}) geregistreerd voor selfservice voor wachtwoordherstel van je account {{login}}.',
      sms: 'oidc-sspr: er is een herstelmethode ({{method}}) toegevoegd aan je account {{login}}. Was jij dit niet? Neem contact op met je helpdesk.',
    },
    method_removed: {
      subject: 'Er is een herstelmethode verwijderd uit je account',
      text: 'Op {{time}} is een herstelmethode ({{method}}) verwijderd uit je account {{login}}. Je kunt deze methode niet meer gebruiken om je wachtwoord opnieuw in te stellen.',
      sms: 'oidc-sspr: er is een herstelmethode ({{method}}) verwijderd uit je account {{login}}. Was jij dit niet? Neem contact op met je helpdesk.',
    },
    password_changed: {
      subject: 'Je wachtwoord voor oidc-sspr is gewijzigd',
      text: 'Het wachtwoord van je account {{login}} is gewijzigd op {{time}}. Heb je dit zelf gedaan? Dan hoef je niets te doen.',
      sms: 'oidc-sspr: het wachtwoord van je account {{login}} is gewijzigd. Was jij dit niet? Neem contact op met je helpdesk.',
    },
    admin_password_reset: {
      subject: 'Het wachtwoord van een beheerder is opnieuw ingesteld',
      text: 'Het wachtwoord van het beheerdersaccount {{login}} is op {{time}} opnieuw ingesteld met selfservice voor wachtwoordherstel. Had je dit niet verwacht? Controleer dan het auditlogboek en neem contact op met de eigenaar van het account.',
      sms: 'oidc-sspr: het wachtwoord van beheerdersaccount {{login}} is opnieuw ingesteld met selfservice voor wachtwoordherstel.',
    },
    methods_reset: {
      subject: 'Je herstelmethoden zijn opnieuw ingesteld',
      text: 'Je helpdesk heeft op {{time}} de herstelmethoden van je account {{login}} opnieuw ingesteld. De volgende keer dat je je aanmeldt, word je gevraagd je methoden voor selfservice voor wachtwoordherstel opnieuw te registreren.',
      sms: 'oidc-sspr: je helpdesk heeft de herstelmethoden van je account {{login}} opnieuw ingesteld. Bij je volgende aanmelding word je gevraagd ze opnieuw te registreren.',
    },
  },
} as const satisfies Shape<typeof en>;
