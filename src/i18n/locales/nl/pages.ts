export default {
  product: 'oidc-sspr',
  common: {
    cancel: 'Annuleren',
    back: 'Terug',
    continue: 'Volgende',
    start_again: 'Opnieuw beginnen',
    helpdesk_hint: 'Hulp nodig? Neem contact op met uw helpdesk:',
  },
  login: {
    title: 'Aanmelden',
    for_client: 'om door te gaan naar {{client}}',
    username: 'Gebruikersnaam of e-mailadres',
    password: 'Wachtwoord',
    submit: 'Aanmelden',
    forgot: 'Wachtwoord vergeten?',
  },
  consent: {
    title: 'Toegang toestaan',
    intro: '{{client}} vraagt toegang tot:',
    allow: 'Toestaan',
    deny: 'Weigeren',
    scope: {
      openid: 'Uw aanmeldidentiteit',
      profile: 'Uw naam en gebruikersnaam',
      email: 'Uw e-mailadres',
      phone: 'Uw telefoonnummer',
      offline_access: 'Aangemeld blijven terwijl u weg bent',
    },
  },
  logout: {
    title: 'Afmelden',
    question: 'Wilt u zich afmelden?',
    yes: 'Ja, meld mij af',
    no: 'Nee, aangemeld blijven',
  },
  logged_out: {
    title: 'Afgemeld',
    text: 'U bent afgemeld.',
    text_client: 'U bent afgemeld bij {{client}}.',
  },
  error: {
    title: 'Er is iets misgegaan',
  },
} as const;
