import type { AuditSink } from '../../audit/index.ts';
import { accessPassAudit, type AccessPassService } from '../access-pass.ts';
import { CodeInvalid, FlowInvalid } from '../errors.ts';
import type { HeldSecretMethod } from './types.ts';

/**
 * The helpdesk's Temporary Access Pass as a reset method: never registered (the helpdesk issues it
 * with `user tap`), offered to every visitor of the reset's method page, and one valid pass is the
 * whole proof. The pass service does the same work for ids that lead nowhere and uses a one-time
 * pass up atomically; each check is audited (`sspr.tap.used` / `sspr.tap.refused`) in the step's
 * transaction, which the reset commits also when it refuses.
 */
export function createTemporaryAccessPassMethod(deps: { passes: AccessPassService; audit: AuditSink }): HeldSecretMethod {
  const notRegistrable = () => Promise.reject(new FlowInvalid({ detail: 'a Temporary Access Pass is issued by the helpdesk, not registered' }));
  return {
    id: 'temporary_access_pass',
    kind: 'held_secret',
    registrable: false,
    provesAll: true,
    proofInput: { digits: false, maxLength: 32 },
    describe: () => ({ masked: null }),
    enrol: notRegistrable,
    show: notRegistrable,
    confirm: notRegistrable,
    async prove({ accountId, code, context }, t) {
      const result = await deps.passes.check(accountId, code, t);
      await deps.audit.record(accessPassAudit(result, { accountId, context }), t);
      if (!result.ok) throw new CodeInvalid({ detail: `temporary access pass: ${result.reason}` });
    },
  };
}
