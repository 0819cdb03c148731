import type { RequestContext } from '../../audit/index.ts';
import type { Language } from '../../i18n/index.ts';
import type { SsprDeps } from '../context.ts';
import { PasswordRejected, Throttled } from '../errors.ts';
import { createNotices } from '../notices.ts';
import type { ThrottleRule } from '../throttle.ts';

const MINUTE = 60_000;

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
 * throttled like sign-in; the new one passes the same policy as a reset; then, in one transaction,
 * the hash changes, every session, grant and token ends (a stolen session does not outlive the
 * change), the event is audited and the user is told on every registered channel.
 */
export function createPasswordChange(sspr: SsprDeps) {
  const { directory, passwordPolicy, throttle, audit, store, clock, config, methodRepo, delivery } = sspr;
  const notices = createNotices({ config, delivery, methodRepo, directory });
  const limits = config.sspr.throttle.sign_in_failures;
  const rule: ThrottleRule = { max: limits.block_after, windowMs: limits.block_minutes * MINUTE, blockMs: limits.block_minutes * MINUTE };

  return {
    async change(input: PasswordChangeInput): Promise<void> {
      const account = await directory.findById(input.accountId);
      if (!account || account.disabled) throw new PasswordRejected({ failed: [], detail: 'no such account' });
      const key = `pwchange:id:${account.id}`;
      const state = await throttle.peek(key, rule);
      if (state.blockedUntil) throw new Throttled({ until: state.blockedUntil, now: clock.now() });
      const event = { actor: account.login, target: account.login, targetAccountId: account.id, context: input.context };
      if (!(input.current && (await directory.verifyPassword(account.id, input.current)))) {
        await throttle.hit(key, rule);
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
        await throttle.reset(key, t);
        await audit.record({ ...event, activity: 'account.password_changed', result: 'success' }, t);
        await notices.passwordChanged(account, { lang: input.lang, time: clock.now(), correlationId: input.context.correlationId }, t);
      });
    },
  };
}
