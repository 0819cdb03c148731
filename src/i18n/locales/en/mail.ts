/**
 * Email and SMS texts. Rules (INTERFACE.md "Messages"): a message with a code carries it as one run of
 * 6 to 8 digits, alone; a message without a code carries no such run (times are written with separators).
 * `src/delivery/messages.ts` assembles a mail from greeting, `text`, footer lines and signature.
 */
export default {
  method: {
    email: 'email',
    sms: 'SMS',
    totp: 'authenticator app',
    recovery_codes: 'recovery codes',
    passkey: 'passkey',
  },
  common: {
    greeting: 'Hello {{name}},',
    greeting_anonymous: 'Hello,',
    expires_one: 'The code expires in {{count}} minute.',
    expires_other: 'The code expires in {{count}} minutes.',
    never_share: 'Never share this code with anyone. Your helpdesk will never ask you for it.',
    not_you: 'If this was not you, contact your helpdesk straight away.',
    not_you_contact: 'If this was not you, contact your helpdesk straight away: {{contact}}',
    automatic: 'This message was sent automatically by oidc-sspr. Replies are not read.',
    signature: 'oidc-sspr',
  },
  code: {
    registration: {
      subject: 'Your oidc-sspr verification code',
      text: 'Use this verification code to confirm this address as a recovery method for self-service password reset:\n\n{{code}}\n\n{{expiry}} If you did not ask for this code, you can ignore this message.',
      sms: '{{code}} is your oidc-sspr verification code. It expires in {{minutes}} min.',
    },
    reset: {
      subject: 'Your oidc-sspr password reset code',
      text: 'Someone, hopefully you, asked to reset the password of your account with self-service password reset. Use this verification code to continue:\n\n{{code}}\n\n{{expiry}} If you did not ask for this, you can ignore this message: your password has not been changed.',
      sms: '{{code}} is your oidc-sspr code to reset your password. It expires in {{minutes}} min. Never share it.',
    },
    sign_in: {
      subject: 'Your oidc-sspr sign-in code',
      text: 'Someone, hopefully you, signed in to your account with your password. Use this code as the second step of the sign-in:\n\n{{code}}\n\n{{expiry}} If this was not you, change your password: someone knows it.',
      sms: '{{code}} is your oidc-sspr sign-in code. It expires in {{minutes}} min. Never share it.',
    },
  },
  notice: {
    method_added: {
      subject: 'A recovery method was added to your account',
      text: 'On {{time}}, a new recovery method ({{method}}) was registered for self-service password reset on your account {{login}}.',
      sms: 'oidc-sspr: a recovery method ({{method}}) was added to your account {{login}}. Not you? Contact your helpdesk.',
    },
    method_removed: {
      subject: 'A recovery method was removed from your account',
      text: 'On {{time}}, a recovery method ({{method}}) was removed from your account {{login}}. It can no longer be used to reset your password.',
      sms: 'oidc-sspr: a recovery method ({{method}}) was removed from your account {{login}}. Not you? Contact your helpdesk.',
    },
    password_changed: {
      subject: 'Your oidc-sspr password was changed',
      text: 'The password of your account {{login}} was changed on {{time}}. If you did this yourself, no action is needed.',
      sms: 'oidc-sspr: the password of your account {{login}} was changed. Not you? Contact your helpdesk.',
    },
    admin_password_reset: {
      subject: "An administrator's password was reset",
      text: 'The password of the administrator account {{login}} was reset with self-service password reset on {{time}}. If you did not expect this, check the audit log and contact the owner of the account.',
      sms: 'oidc-sspr: the password of administrator account {{login}} was reset with self-service password reset.',
    },
    methods_reset: {
      subject: 'Your recovery methods were reset',
      text: 'On {{time}}, your helpdesk reset the recovery methods of your account {{login}}. The next time you sign in, you will be asked to register your methods for self-service password reset again.',
      sms: 'oidc-sspr: your helpdesk reset the recovery methods of your account {{login}}. You will be asked to register them again when you next sign in.',
    },
  },
} as const;
