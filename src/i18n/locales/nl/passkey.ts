/** Toegangssleutels (src/interactions/passkey.ts, views/_passkey-*.ejs, views/static/passkey.js). */
export default {
  method: 'Toegangssleutel',
  default_name: 'Toegangssleutel',
  register: {
    heading: 'Toegangssleutel',
    intro: 'Met een toegangssleutel meldt u zich aan en herstelt u uw wachtwoord met uw vingerafdruk, gezicht of schermvergrendeling, zonder een code te typen.',
    name_label: 'Naam voor de nieuwe toegangssleutel',
    create: 'Een toegangssleutel maken',
  },
  list: {
    heading: 'Uw toegangssleutels',
    created: 'Gemaakt op {{date}}',
    last_used: 'laatst gebruikt op {{date}}',
    rename_label: 'Naam van toegangssleutel “{{name}}”',
    rename: 'Naam wijzigen',
  },
  reset: {
    intro: 'Gebruik een toegangssleutel die u voor dit account hebt geregistreerd. Uw browser vraagt u te bevestigen met uw vingerafdruk, gezicht of schermvergrendeling.',
    use: 'Een toegangssleutel gebruiken',
  },
  sign_in: {
    button: 'Aanmelden met een toegangssleutel',
    or: 'Of meld u aan zonder wachtwoord:',
  },
  unsupported: 'Deze browser kan hier geen toegangssleutels gebruiken. Kies een andere methode.',
  noscript: 'Toegangssleutels hebben JavaScript nodig in deze browser. Kies een andere methode.',
  errors: {
    failed: 'Die toegangssleutel kon niet worden gebruikt. Probeer het opnieuw, of kies een andere manier.',
    cancelled: 'Het verzoek om een toegangssleutel is geannuleerd of verlopen. Probeer het opnieuw.',
    not_allowed: 'Toegangssleutels kunnen hier niet worden gebruikt.',
    name_required: 'Typ een naam voor de toegangssleutel.',
  },
} as const;
