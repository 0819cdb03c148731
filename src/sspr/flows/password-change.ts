import type { RequestContext } from '../../audit/index.ts';
import type { Language } from '../../i18n/index.ts';
import type { DomainDeps } from '../context.ts';
import { PasswordRejected, Throttled } from '../errors.ts';
import { createGuessLimiter } from '../guess-limits.ts';
import { createNotices } from '../notices.ts';

export interface PasswordChangeInput {
  accountId: string;
  current: string;
  password: string;
  confirmation: string;
  context: RequestContext;
  lang: Language;
}

export type PasswordChange = ReturnType<typeof createPasswordChange>;

/**
 * A signed-in user changes their own password (current + new). The current password is the proof,
 * counted before it is checked on the account's sign-in budget (guess-limits.ts: a stolen session
 * gets no extra guesses here); the new one passes the same policy as a reset; then, in one transaction,
 * the hash changes, every session, grant and token ends (a stolen session does not outlive the
 * change), the event is audited and the user is told on every registered channel.
 */
export function createPasswordChange(sspr: DomainDeps) {
  const { directory, passwordPolicy, throttle, audit, store, clock, config, methodRepo, delivery } = sspr;
  const notices = createNotices({ config, delivery, methodRepo, directory });
  const guesses = createGuessLimiter({ throttle, limits: config.sspr.throttle });

  return {
    async change(input: PasswordChangeInput): Promise<void> {
      const account = await directory.findById(input.accountId);
      if (!account || account.disabled) throw new PasswordRejected({ failed: [], detail: 'no such account' });
      const counted = await guesses.count('password', { identifier: account.login, accountId: account.id, ip: input.context.ip ?? 'unknown' });
      if (!counted.allowed) throw new Throttled({ until: counted.until ?? clock.now(), now: clock.now(), detail: 'password change: sign-in budget spent' });
      const event = { actor: account.login, target: account.login, targetAccountId: account.id, context: input.context };
      if (!(input.current && (await directory.verifyPassword(account.id, input.current)))) {
        await audit.record({ ...event, activity: 'account.password_changed', result: 'failure', reason: 'wrong_current_password' });
        throw new PasswordRejected({ failed: ['wrong_current'], detail: 'current password did not match' });
      }
      const check = passwordPolicy.check(input.password, {
        login: account.login,
        email: account.email,
        currentPasswordMatches: input.password === input.current,
        confirmation: input.confirmation,
      });
      if (!check.ok) throw new PasswordRejected({ failed: check.failed });
      await store.transaction(async (t) => {
        await directory.setPassword(account.id, input.password, t);
        await directory.revokeEverything(account.id, t);
        await guesses.succeeded('password', counted, t);
        await audit.record({ ...event, activity: 'account.password_changed', result: 'success' }, t);
        await notices.passwordChanged(account, { lang: input.lang, time: clock.now(), correlationId: input.context.correlationId }, t);
      });
    },
  };
}
