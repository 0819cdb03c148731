export default {
  generic: 'Er is iets misgegaan. Probeer het opnieuw.',
  invalid_credentials: 'De gebruikersnaam of het wachtwoord is onjuist.',
  sign_in_throttled: 'Te veel pogingen. Wacht even en probeer het opnieuw.',
  bad_request: 'Het verzoek is niet begrepen. Ga terug en probeer het opnieuw.',
  csrf: 'Dit formulier is verlopen of niet vanaf deze site verzonden. Probeer het opnieuw.',
  session_expired: 'Het aanmelden duurde te lang en is verlopen. Ga terug naar de app en begin opnieuw.',
  not_found: 'Deze pagina bestaat niet.',
  payload_too_large: 'Wat u hebt verzonden is te groot.',
  oidc: {
    invalid_request: 'De app heeft een ongeldig aanmeldverzoek verzonden.',
    invalid_client: 'De app die u hierheen stuurde is niet bekend bij deze aanmeldservice.',
    invalid_redirect_uri: 'De app wil u terugsturen naar een adres dat niet is geregistreerd.',
    session_not_found: 'Uw aanmeldsessie is beëindigd. Ga terug naar de app en begin opnieuw.',
    access_denied: 'De toegang is geweigerd.',
    server_error: 'De aanmeldservice had een probleem. Probeer het later opnieuw.',
  },
} as const;
