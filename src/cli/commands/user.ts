import type { Command } from 'commander';
import { METHOD_TYPES, type Config, type MethodType, type MfaConfig } from '../../config/schema.ts';
import { evaluateAccount, type RegistrationDue } from '../../sspr/policy.ts';
import type { UserView } from '../../admin/accounts.ts';
import { globalsOf, iso, maskTarget, output, passwordFrom, withSession, yesNo, type CliIo } from './context.ts';
import { registerTapCommand } from './tap.ts';

export interface ScopeResult {
  inScope: boolean;
  methodsRequired: number;
  registrationDue: RegistrationDue;
  /** Signs in with a second factor (`mfa.required_for`). */
  mfaRequired: boolean;
}

/** The user's standing in the SSPR policy, from the same `evaluateAccount` sign-in uses. */
export function scopeOf(user: UserView, sspr: Config['sspr'], now: Date, mfa?: MfaConfig): ScopeResult {
  const known = new Set<string>(METHOD_TYPES);
  const result = evaluateAccount({
    account: {
      id: user.id,
      login: user.login,
      email: user.email,
      phone: user.phone,
      name: user.name,
      isAdmin: user.admin,
      disabled: user.disabled,
      groups: user.groups,
      language: null,
      passwordChangedAt: user.passwordChangedAt,
      // The policy does not read it; a scope dry run decides nothing about sessions.
      credentialsEpoch: 0,
    },
    methods: user.methods
      .filter((m): m is typeof m & { type: MethodType } => known.has(m.type))
      .map((m) => ({ type: m.type, verifiedAt: m.verifiedAt })),
    confirmedAt: user.confirmedAt,
    policy: sspr,
    mfa,
    now,
  });
  return { inScope: result.inScope, methodsRequired: result.methodsRequired, registrationDue: result.registrationDue, mfaRequired: result.mfaRequired };
}

/** The `user show --json` shape (INTERFACE.md), plus id, verification flags and timestamps. */
export function userJson(user: UserView, sspr: Config['sspr'], now: Date, mfa?: MfaConfig) {
  const scope = scopeOf(user, sspr, now, mfa);
  return {
    id: user.id,
    login: user.login,
    email: user.email,
    email_verified: user.emailVerified,
    phone: user.phone,
    phone_verified: user.phoneVerified,
    name: user.name,
    admin: user.admin,
    disabled: user.disabled,
    groups: user.groups,
    methods: user.methods.map((m) => (m.type === 'passkey'
      ? { type: m.type, name: m.target, verified_at: iso(m.verifiedAt) }
      : m.remaining === undefined
      ? { type: m.type, target: maskTarget(m.type, m.target), verified_at: iso(m.verifiedAt) }
      : { type: m.type, remaining: m.remaining, verified_at: iso(m.verifiedAt) })),
    confirmed_at: iso(user.confirmedAt),
    in_scope: scope.inScope,
    methods_required: scope.methodsRequired,
    registration_due: scope.registrationDue,
    // Only while MFA is on: the shape stays as INTERFACE.md names it otherwise.
    ...(mfa && mfa.required_for !== 'none' ? { mfa_required: scope.mfaRequired } : {}),
    password_changed_at: iso(user.passwordChangedAt),
    created_at: iso(user.createdAt),
  };
}

function userText(user: UserView, sspr: Config['sspr'], now: Date, mfa?: MfaConfig): string[] {
  const scope = scopeOf(user, sspr, now, mfa);
  const contact = (v: string | null, verified: boolean) => (v ? `${v}${verified ? ' (verified)' : ''}` : '-');
  const methods = user.methods.length
    ? user.methods.map((m) => `${m.type}${m.target ? ` ${maskTarget(m.type, m.target)}` : ''}${m.remaining === undefined ? '' : ` ${m.remaining} left`} (${m.verifiedAt ? `verified ${iso(m.verifiedAt)}` : 'not verified'})`)
    : ['none'];
  return [
    `login:            ${user.login}`,
    `name:             ${user.name ?? '-'}`,
    `email:            ${contact(user.email, user.emailVerified)}`,
    `phone:            ${contact(user.phone, user.phoneVerified)}`,
    `admin:            ${yesNo(user.admin)}`,
    `disabled:         ${yesNo(user.disabled)}`,
    `groups:           ${user.groups.join(', ') || '-'}`,
    `methods:          ${methods.join('\n                  ')}`,
    `confirmed:        ${iso(user.confirmedAt) ?? 'never'}`,
    `in SSPR scope:    ${scope.inScope ? `yes, ${scope.methodsRequired} method type(s) required` : 'no'}`,
    `registration due: ${scope.registrationDue === false ? 'no' : scope.registrationDue}`,
    ...(mfa && mfa.required_for !== 'none' ? [`second factor:    ${scope.mfaRequired ? 'required at sign-in' : 'not required'}`] : []),
  ];
}

function table(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

export function registerUserCommands(program: Command, io: CliIo): void {
  const user = program.command('user').description('manage user accounts');

  user
    .command('add')
    .description('create a user; --email/--phone fill profile claims only, never recovery methods')
    .argument('<login>', 'login name (stored lowercased)')
    .option('--email <email>', 'profile email address')
    .option('--phone <phone>', 'profile phone number (without +country: delivery.sms.default_region)')
    .option('--name <name>', 'display name')
    .option('--admin', 'make the user an administrator')
    .option('--password <password>', 'initial password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (login: string, opts: { email?: string; phone?: string; name?: string; admin?: boolean; password?: string; passwordStdin?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const password = await passwordFrom(io, opts);
      await withSession(io, g, async (s) => {
        const created = await s.accounts.addUser({ login, email: opts.email, phone: opts.phone, name: opts.name, admin: opts.admin, password }, s.actor);
        output(io, g, userJson(created, s.config.sspr, s.clock.now()), `added user "${created.login}"${created.admin ? ' (administrator)' : ''}`);
      });
    });

  user
    .command('list')
    .description('list every user')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const now = s.clock.now();
        const users = await s.accounts.listUsers();
        const json = users.map((u) => {
          const scope = scopeOf(u, s.config.sspr, now);
          return {
            login: u.login,
            name: u.name,
            email: u.email,
            phone: u.phone,
            admin: u.admin,
            disabled: u.disabled,
            groups: u.groups,
            methods: [...new Set(u.methods.filter((m) => m.verifiedAt).map((m) => m.type))],
            in_scope: scope.inScope,
            registration_due: scope.registrationDue,
          };
        });
        const rows = [['LOGIN', 'NAME', 'ADMIN', 'DISABLED', 'METHODS', 'GROUPS']].concat(
          json.map((u) => [u.login, u.name ?? '-', yesNo(u.admin), yesNo(u.disabled), u.methods.join(',') || '-', u.groups.join(',') || '-']),
        );
        output(io, g, json, users.length ? table(rows) : 'no users');
      });
    });

  user
    .command('show')
    .description('show one user, their groups, masked recovery methods and SSPR standing')
    .argument('<login>')
    .action(async (login: string, _opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const u = await s.accounts.getUser(login);
        const now = s.clock.now();
        output(io, g, userJson(u, s.config.sspr, now, s.config.mfa), userText(u, s.config.sspr, now, s.config.mfa));
      });
    });

  for (const disabled of [true, false]) {
    user
      .command(disabled ? 'disable' : 'enable')
      .description(disabled ? 'disable a user and end every session and token' : 'enable a disabled user')
      .argument('<login>')
      .action(async (login: string, _opts: unknown, cmd: Command) => {
        const g = globalsOf(cmd);
        await withSession(io, g, async (s) => {
          const r = await s.accounts.setDisabled(login, disabled, s.actor);
          const verb = disabled ? 'disabled' : 'enabled';
          const text = r.changed ? `${verb} user "${r.login}"${disabled ? ` (${r.revoked} session/grant/token record(s) revoked)` : ''}` : `user "${r.login}" was already ${verb}`;
          output(io, g, { login: r.login, disabled, changed: r.changed, revoked: r.revoked }, text);
        });
      });
  }

  user
    .command('set-password')
    .description('admin password reset: revokes every session and token of the user')
    .argument('<login>')
    .option('--password <password>', 'new password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from the first line of stdin')
    .action(async (login: string, opts: { password?: string; passwordStdin?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const password = await passwordFrom(io, opts);
      await withSession(io, g, async (s) => {
        const r = await s.accounts.setPassword(login, password, s.actor);
        output(io, g, { login: r.login, changed: true, revoked: r.revoked }, `password of "${r.login}" set (${r.revoked} session/grant/token record(s) revoked)`);
      });
    });

  user
    .command('admin')
    .description('make a user an administrator (--off: no longer)')
    .argument('<login>')
    .option('--off', 'remove administrator rights')
    .action(async (login: string, opts: { off?: boolean }, cmd: Command) => {
      const g = globalsOf(cmd);
      const admin = !opts.off;
      await withSession(io, g, async (s) => {
        const r = await s.accounts.setAdmin(login, admin, s.actor);
        const text = r.changed
          ? `user "${r.login}" ${admin ? 'is now an administrator' : 'is no longer an administrator'}`
          : `user "${r.login}" ${admin ? 'was already an administrator' : 'was not an administrator'}`;
        output(io, g, { login: r.login, admin, changed: r.changed }, text);
      });
    });

  user
    .command('methods-reset')
    .description('helpdesk: forget every registered recovery method of the user')
    .argument('<login>')
    .action(async (login: string, _opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const r = await s.accounts.resetMethods(login, s.actor);
        output(io, g, { login: r.login, removed: r.removed, changed: r.changed }, `removed ${r.removed} recovery method(s) of "${r.login}"`);
      });
    });

  user
    .command('unblock')
    .description('lift every throttle and block touching the user: account, login, email, with or without an address')
    .argument('<login>')
    .action(async (login: string, _opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const r = await s.accounts.unblock(login, s.actor);
        output(io, g, { login: r.login, removed: r.removed, changed: r.changed }, `removed ${r.removed} throttle record(s) of "${r.login}"`);
      });
    });
  registerTapCommand(user, io);
}
