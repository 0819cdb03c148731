/** De tweede stap van het aanmelden (src/interactions/mfa.ts, views/mfa-*.ejs). */
export default {
  choose: {
    title: 'Tweede stap: verifiëren dat u het bent',
    intro: 'Uw wachtwoord klopt. Bevestig de aanmelding nu met een van uw methoden.',
    legend: 'Verifiëren met',
    submit: 'Doorgaan',
    none: 'Uw account heeft geen methode waarmee u een aanmelding kunt bevestigen. Neem contact op met uw helpdesk.',
    cancel: 'Aanmelden annuleren',
  },
  method: {
    email: 'E-mail',
    sms: 'Sms',
    totp: 'Authenticator-app',
    recovery_codes: 'Herstelcode',
    passkey: 'Toegangssleutel',
  },
  code: {
    title: 'Tweede stap: verifiëren met een code',
    intro_totp: 'Open uw authenticator-app en typ de code van 6 cijfers die deze voor dit account toont.',
    intro_recovery_codes: 'Typ een van de herstelcodes die u hebt bewaard. Elke code werkt één keer.',
    intro_passkey: 'Gebruik uw toegangssleutel om de aanmelding te bevestigen.',
    sent_email: 'We hebben een code gestuurd naar {{masked}}. De code verloopt over {{minutes}} minuten.',
    sent_sms: 'We hebben een code per sms gestuurd naar {{masked}}. De code verloopt over {{minutes}} minuten.',
    label_totp: 'Code uit uw authenticator-app',
    label_recovery_codes: 'Herstelcode',
    label_email: 'Code uit de e-mail',
    label_sms: 'Code uit de sms',
    label_passkey: 'Toegangssleutel',
    remember: 'Onthoud deze browser {{count}} dagen',
    submit: 'Verifiëren',
    resend: 'Stuur een nieuwe code',
    other_method: 'Een andere methode gebruiken',
    cancel: 'Aanmelden annuleren',
  },
  register: {
    intro: 'Voor uw aanmelding is een tweede stap nodig. Registreer een methode waarmee u die bevestigt: een authenticator-app, een toegangssleutel, uw telefoon (sms), uw e-mailadres of herstelcodes — welke deze pagina ook aanbiedt.',
  },
  errors: {
    code_invalid: 'Die code klopt niet. Controleer de code en probeer het opnieuw.',
    blocked_until: 'Te veel verkeerde codes. De tweede stap van uw aanmelding is gepauzeerd tot {{time}}; probeer het dan opnieuw of neem contact op met uw helpdesk.',
    sent: 'Er is een nieuwe code onderweg.',
  },
};
