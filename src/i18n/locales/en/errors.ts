export default {
  generic: 'Something went wrong. Please try again.',
  invalid_credentials: 'The user name or password is incorrect.',
  sign_in_throttled: 'Too many attempts. Wait a moment and try again.',
  bad_request: 'The request could not be understood. Please go back and try again.',
  csrf: 'This form has expired or was not sent from this site. Please try again.',
  session_expired: 'Your sign-in took too long and has expired. Return to the app and start again.',
  not_found: 'This page does not exist.',
  payload_too_large: 'What you sent is too large.',
  oidc: {
    invalid_request: 'The app sent an invalid sign-in request.',
    invalid_client: 'The app that sent you here is not known to this sign-in service.',
    invalid_redirect_uri: 'The app asked to return you to an address it has not registered.',
    session_not_found: 'Your sign-in session has ended. Return to the app and start again.',
    access_denied: 'Access was denied.',
    server_error: 'The sign-in service had a problem. Please try again later.',
  },
} as const;
