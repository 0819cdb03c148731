/** Stable activity codes and their readable names (modelled on Entra's audit activities). */
export const ACTIVITIES = {
  'sspr.registration.started': 'Self-service password reset registration started',
  'sspr.registration.method_verified': 'Self-service password reset method verified',
  'sspr.registration.method_removed': 'Self-service password reset method removed',
  'sspr.registration.completed': 'User registered for self-service password reset',
  'sspr.registration.reconfirmed': 'User reconfirmed self-service password reset methods',
  'sspr.registration.skipped': 'User postponed self-service password reset registration',
  'sspr.reset.started': 'Self-service password reset flow activity progress',
  'sspr.reset.method_verified': 'Self-service password reset flow activity progress',
  'sspr.reset.code_sent': 'Self-service password reset flow activity progress',
  'sspr.reset.completed': 'Reset password (self-service)',
  'sspr.reset.failed': 'Self-service password reset flow activity progress',
  'sspr.reset.blocked': 'Blocked from self-service password reset',
  'sspr.policy.changed': 'Self-service password reset policy changes',
  'sspr.tap.used': 'Temporary Access Pass used (self-service password reset)',
  'sspr.tap.refused': 'Temporary Access Pass refused (self-service password reset)',
  'sspr.passkey.registered': 'Passkey registered',
  'sspr.passkey.used': 'Passkey used',
  'sspr.passkey.renamed': 'Passkey renamed',
  'sspr.passkey.removed': 'Passkey removed',
  'sspr.passkey.refused': 'Passkey refused',
  'sspr.notice.sent': 'Notification sent',
  'sspr.notice.failed': 'Notification delivery failed',
  'auth.sign_in.succeeded': 'Sign-in succeeded',
  'auth.sign_in.failed': 'Sign-in failed',
  'auth.sign_in.blocked': 'Sign-in temporarily blocked',
  'auth.mfa.succeeded': 'Second factor verified at sign-in',
  'auth.mfa.failed': 'Second factor failed at sign-in',
  'auth.mfa.blocked': 'Blocked from the second sign-in step',
  'auth.mfa.code_sent': 'Second-factor code sent',
  'auth.mfa.remembered': 'Second factor remembered for this browser',
  'auth.logout': 'Signed out',
  'account.password_changed': 'Change password (self-service)',
  'account.sessions_ended': 'Signed out of other sessions (self-service)',
  'admin.password_reset': 'Reset password (by admin)',
  'admin.tap_issued': 'Admin issued a Temporary Access Pass',
  'admin.tap_revoked': 'Admin revoked Temporary Access Passes',
} as const satisfies Record<string, string>;

export type KnownActivity = keyof typeof ACTIVITIES;
/** Known activities, plus `admin.<verb>` for every other CLI change. */
export type Activity = KnownActivity | `admin.${string}`;

export function activityName(activity: Activity): string {
  if (activity in ACTIVITIES) return ACTIVITIES[activity as KnownActivity];
  const verb = activity.slice('admin.'.length).replace(/_/g, ' ');
  return `Admin: ${verb}`;
}
