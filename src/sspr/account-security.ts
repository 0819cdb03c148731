import type { DomainDeps } from './context.ts';
import { MethodNotAllowed, NotFound, Throttled } from './errors.ts';
import type { AccountStatus, RegistrationFlow, StepInput } from './flows/registration.ts';
import { createGuessLimiter } from './guess-limits.ts';
import { createMethodNotices } from './method-notices.ts';

export type AccountSecurity = ReturnType<typeof createAccountSecurity>;

/**
 * What a signed-in user does on /account/security besides registering methods (that is the
 * registration flow): prove it is still them with the password, and remove a method. Sessions and
 * "sign out everywhere" go through the account directory; the password change is its own flow.
 */
export function createAccountSecurity(deps: DomainDeps, registration: RegistrationFlow) {
  const { config, store, clock, directory, audit, methods, methodRepo, throttle, delivery } = deps;
  const guesses = createGuessLimiter({ throttle, limits: config.sspr.throttle });
  const { tell } = createMethodNotices({ methods, delivery, clock, helpdesk: config.sspr.helpdesk.url || config.sspr.helpdesk.email || null });

  /**
   * Password re-entry ("signed in within the last 10 minutes, else the password again"). Counted
   * before the check on the account's sign-in budget (guess-limits.ts) and audited like a sign-in;
   * true when the password was right.
   */
  async function reauthenticate(flowId: string, accountId: string, password: string, input: StepInput): Promise<boolean> {
    const st = await registration.mustStatus(accountId);
    await registration.get(flowId, accountId); // the flow must be this account's and live
    const counted = await guesses.count('password', { identifier: st.account.login, accountId, ip: input.context.ip ?? 'unknown' });
    if (!counted.allowed) {
      const now = clock.now();
      throw new Throttled({ until: counted.until ?? now, now, detail: 'reauthentication throttled', params: { kind: 'reauth' } });
    }
    const ok = password.length > 0 && await directory.verifyPassword(accountId, password);
    const event = {
      actor: st.account.login,
      target: st.account.login,
      targetAccountId: accountId,
      context: input.context,
      reason: ok ? 'reauthentication' : 'wrong_password',
      details: { reauthentication: true },
    };
    if (!ok) {
      await audit.record({ ...event, activity: 'auth.sign_in.failed', result: 'failure' });
      return false;
    }
    await store.transaction(async (t) => {
      await registration.markReauthenticated(flowId, accountId, t);
      await guesses.succeeded('password', counted, t);
      await audit.record({ ...event, activity: 'auth.sign_in.succeeded', result: 'success' }, t);
    });
    return true;
  }

  /** Removes a method, never below what the policy requires while the account is in scope. */
  async function removeMethod(accountId: string, methodId: string, input: StepInput): Promise<AccountStatus> {
    const st = await registration.mustStatus(accountId);
    const method = st.methods.find((m) => m.id === methodId);
    if (!method) throw new NotFound({ detail: `method ${methodId} not found for this account` });
    const blocked = registration.removalBlocked(st, methodId);
    if (blocked) {
      throw new MethodNotAllowed({ detail: 'removal would leave too few methods', params: { reason: 'below_required', count: blocked.required } });
    }
    await store.transaction(async (t) => {
      const removed = await methodRepo.remove(accountId, methodId, t);
      if (!removed) throw new NotFound({ detail: `method ${methodId} removed concurrently` });
      // Tell every channel, the removed one included: if this was not the owner, they hear of it.
      await tell(st.account, st.methods, 'notice.method_removed', method.type, input, t);
      await audit.record({
        activity: 'sspr.registration.method_removed',
        result: 'success',
        actor: st.account.login,
        target: st.account.login,
        targetAccountId: accountId,
        context: input.context,
        details: { method: method.type },
      }, t);
      // A passkey's own record of its end, beside its use and registration.
      if (methods.get(method.type)?.kind === 'ceremony') {
        await audit.record({ activity: 'sspr.passkey.removed', result: 'success', actor: st.account.login, target: st.account.login, targetAccountId: accountId, context: input.context, details: { credential: methodId } }, t);
      }
    });
    return registration.mustStatus(accountId);
  }

  return { reauthenticate, removeMethod };
}
