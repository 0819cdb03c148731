export default {
  product: 'oidc-sspr',
  common: {
    cancel: 'Cancel',
    back: 'Back',
    continue: 'Next',
    start_again: 'Start again',
    helpdesk_hint: 'Need help? Contact your helpdesk:',
  },
  login: {
    title: 'Sign in',
    for_client: 'to continue to {{client}}',
    username: 'User name or email',
    password: 'Password',
    submit: 'Sign in',
    forgot: 'Forgot your password?',
  },
  consent: {
    title: 'Allow access',
    intro: '{{client}} asks for access to:',
    allow: 'Allow',
    deny: 'Deny',
    scope: {
      openid: 'Your sign-in identity',
      profile: 'Your name and user name',
      email: 'Your email address',
      phone: 'Your phone number',
      offline_access: 'Staying signed in while you are away',
    },
  },
  logout: {
    title: 'Sign out',
    question: 'Do you want to sign out?',
    yes: 'Yes, sign me out',
    no: 'No, stay signed in',
  },
  logged_out: {
    title: 'Signed out',
    text: 'You have been signed out.',
    text_client: 'You have been signed out of {{client}}.',
  },
  error: {
    title: 'Something went wrong',
  },
} as const;
