import type { RequestContext } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { MethodType } from '../config/schema.ts';
import type { DeliveryPort } from '../delivery/index.ts';
import type { Language } from '../i18n/index.ts';
import type { MethodRegistry, StoredMethod } from './methods/types.ts';
import type { DirectoryAccount, TransactionHandle } from './ports.ts';

/**
 * "A method was added / removed" notices, on every registered channel that can receive one (a method
 * with an address or number), queued in the caller's transaction. Shared by registration and the
 * account console, so both tell the user the same way.
 */
export function createMethodNotices(deps: { methods: MethodRegistry; delivery: DeliveryPort; clock: Clock; helpdesk: string | null }) {
  return {
    async tell(
      account: DirectoryAccount,
      to: StoredMethod[],
      template: 'notice.method_added' | 'notice.method_removed',
      method: MethodType,
      input: { context: RequestContext; lang: Language },
      t: TransactionHandle,
    ): Promise<void> {
      const time = deps.clock.now();
      for (const m of to) {
        const channel = deps.methods.get(m.type);
        if (m.target === null || channel?.kind !== 'target') continue;
        const params = { login: account.login, time, name: account.name, helpdesk: deps.helpdesk, method };
        await deps.delivery.enqueueMessage({ channel: channel.channel, to: m.target, lang: input.lang, accountId: account.id, correlationId: input.context.correlationId ?? null, template, params }, t);
      }
    },
  };
}
