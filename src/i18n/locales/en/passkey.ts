/** Passkeys (src/interactions/passkey.ts, views/_passkey-*.ejs, views/static/passkey.js). */
export default {
  method: 'Passkey',
  default_name: 'Passkey',
  register: {
    heading: 'Passkey',
    intro: 'A passkey lets you sign in and reset your password with your fingerprint, face or screen lock, without typing a code.',
    name_label: 'Name for the new passkey',
    create: 'Create a passkey',
  },
  list: {
    heading: 'Your passkeys',
    created: 'Created {{date}}',
    last_used: 'last used {{date}}',
    rename_label: 'Name of passkey “{{name}}”',
    rename: 'Rename',
  },
  reset: {
    intro: 'Use a passkey you registered for this account. Your browser asks you to confirm with your fingerprint, face or screen lock.',
    use: 'Use a passkey',
  },
  sign_in: {
    button: 'Sign in with a passkey',
    or: 'Or sign in without a password:',
  },
  unsupported: 'This browser cannot use passkeys here. Choose another method.',
  noscript: 'Passkeys need JavaScript in this browser. Choose another method.',
  errors: {
    failed: 'That passkey could not be used. Try again, or choose another way.',
    cancelled: 'The passkey request was cancelled or timed out. Try again.',
    not_allowed: 'Passkeys cannot be used here.',
    name_required: 'Type a name for the passkey.',
  },
} as const;
