import type { DomainDeps } from './context.ts';
import { FlowInvalid, MethodNotAllowed, NotFound } from './errors.ts';
import type { RegistrationFlow, StepInput } from './flows/registration.ts';
import { createMethodNotices } from './method-notices.ts';
import type { PasskeyMethod } from './methods/passkey.ts';
import type { PasskeyCredential } from './ports.ts';

export type PasskeyService = ReturnType<typeof createPasskeyService>;

const NAME_MAX = 60;

/** A name as the user typed it, trimmed and bounded; an empty one gets the default. */
export function passkeyName(input: string | undefined, fallback: string): string {
  const cleaned = (input ?? '').replace(/[\u0000-\u001f\u007f]/g, '').trim().slice(0, NAME_MAX);
  return cleaned || fallback;
}

/**
 * Registering, naming and listing passkeys for a signed-in user (the sign-in interrupt and
 * /account/security). The ceremony is the passkey method's; this adds what registering a method
 * means everywhere: the registration flow must be this account's and live, the policy must allow
 * the type, and the new credential, the confirmation date, the notice to the user's other channels
 * and the audit events commit in one transaction.
 */
export function createPasskeyService(deps: DomainDeps, registration: RegistrationFlow) {
  const { store, clock, audit, methods, methodRepo, delivery, config } = deps;
  const { tell } = createMethodNotices({ methods, delivery, clock, helpdesk: config.sspr.helpdesk.url || config.sspr.helpdesk.email || null });
  const found = methods.get('passkey');
  const method = found?.kind === 'ceremony' && 'registrationOptions' in found ? (found as PasskeyMethod) : null;

  function passkey(): PasskeyMethod {
    if (!method) throw new MethodNotAllowed({ detail: 'no passkey method' });
    return method;
  }

  /** The account behind a live registration flow of its own, allowed to register passkeys. */
  async function allowed(flowId: string, accountId: string) {
    await registration.get(flowId, accountId); // NotFound / FlowExpired for another account's or an old flow
    const st = await registration.mustStatus(accountId);
    if (!st.policy.allowedMethods.includes('passkey')) throw new MethodNotAllowed({ detail: 'passkeys not allowed for this account' });
    return st;
  }

  return {
    /** Whether passkeys exist here at all (the sign-in page offers them only then). */
    enabled: () => method !== null && config.sspr.methods.includes('passkey'),
    method: passkey,

    async registrationOptions(flowId: string, accountId: string): Promise<Record<string, unknown>> {
      const st = await allowed(flowId, accountId);
      return passkey().registrationOptions({ binding: `register|${flowId}`, accountId, login: st.account.login, displayName: st.account.name });
    },

    async register(flowId: string, accountId: string, input: { response: string; name: string } & StepInput): Promise<PasskeyCredential> {
      const st = await allowed(flowId, accountId);
      const name = passkeyName(input.name, 'Passkey');
      return store.transaction(async (t) => {
        const credential = await passkey().register({ binding: `register|${flowId}`, accountId, response: input.response, name, context: input.context }, t);
        await methodRepo.setConfirmedAt(accountId, clock.now(), t);
        // Every other channel hears of it: a passkey added by someone else is an attacker's way back in.
        await tell(st.account, st.methods, 'notice.method_added', 'passkey', input, t);
        const event = { actor: st.account.login, target: st.account.login, targetAccountId: accountId, context: input.context };
        await audit.record({ ...event, activity: 'sspr.registration.method_verified', result: 'success', details: { method: 'passkey' } }, t);
        await audit.record({ ...event, activity: 'sspr.passkey.registered', result: 'success', details: { credential: credential.id, aaguid: credential.aaguid } }, t);
        return credential;
      });
    },

    /** Challenges past their expiry (housekeeping). */
    purgeExpired: async (): Promise<number> => (method ? method.purgeExpired() : 0),

    async list(accountId: string): Promise<PasskeyCredential[]> {
      return method ? method.list(accountId) : [];
    },

    async rename(accountId: string, id: string, rawName: string, input: StepInput): Promise<void> {
      const st = await registration.mustStatus(accountId);
      const name = passkeyName(rawName, '');
      if (!name) throw new FlowInvalid({ detail: 'empty passkey name', params: { reason: 'name_required' } });
      await store.transaction(async (t) => {
        if (!(await passkey().rename(accountId, id, name, t))) throw new NotFound({ detail: `passkey ${id} not found for this account` });
        await audit.record({ activity: 'sspr.passkey.renamed', result: 'success', actor: st.account.login, target: st.account.login, targetAccountId: accountId, context: input.context, details: { credential: id } }, t);
      });
    },
  };
}
