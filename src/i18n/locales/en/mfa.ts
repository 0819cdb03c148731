/** The sign-in's second step (src/interactions/mfa.ts, views/mfa-*.ejs). */
export default {
  choose: {
    title: 'Second step: verify it is you',
    intro: 'Your password was right. Now confirm the sign-in with one of your methods.',
    legend: 'Verify with',
    submit: 'Continue',
    none: 'Your account has no method that can confirm a sign-in. Contact your helpdesk.',
    cancel: 'Cancel sign-in',
  },
  method: {
    email: 'Email',
    sms: 'SMS',
    totp: 'Authenticator app',
    recovery_codes: 'Recovery code',
    passkey: 'Passkey',
  },
  code: {
    title: 'Second step: verify with a code',
    intro_totp: 'Open your authenticator app and type the 6-digit code it shows for this account.',
    intro_recovery_codes: 'Type one of the recovery codes you saved. Each code works once.',
    intro_passkey: 'Use your passkey to confirm the sign-in.',
    sent_email: 'We sent a code to {{masked}}. It expires in {{minutes}} minutes.',
    sent_sms: 'We sent a code by SMS to {{masked}}. It expires in {{minutes}} minutes.',
    label_totp: 'Code from your authenticator app',
    label_recovery_codes: 'Recovery code',
    label_email: 'Code from the email',
    label_sms: 'Code from the SMS',
    label_passkey: 'Passkey',
    remember: 'Remember this browser for {{count}} days',
    submit: 'Verify',
    resend: 'Send a new code',
    other_method: 'Use another method',
    cancel: 'Cancel sign-in',
  },
  register: {
    intro: 'Your sign-in needs a second step. Register a method that can confirm it: an authenticator app, a passkey, your phone (SMS), your email address or recovery codes — whichever this page offers.',
  },
  errors: {
    code_invalid: 'That code is not right. Check it and try again.',
    blocked_until: 'Too many wrong codes. The second step of your sign-in is paused until {{time}}; try again then or contact your helpdesk.',
    sent: 'A new code is on its way.',
  },
};
