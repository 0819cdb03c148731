import type { DeliveryPort } from '../../delivery/index.ts';
import type { TransactionHandle as Transaction } from '../ports.ts';
import type { CodeService } from '../codes.ts';
import type { SendCodeInput } from './types.ts';

export interface CodeChannelDeps {
  codes: CodeService;
  delivery: DeliveryPort;
}

/**
 * Issues a code and, only for a real account with a real target, queues the message in the same
 * transaction. Unknown accounts and non-matching targets get a code too (nothing is sent), so expiry,
 * attempts and every later answer look the same either way.
 */
export async function sendCodeVia(deps: CodeChannelDeps, channel: 'email' | 'sms', input: SendCodeInput, t?: Transaction): Promise<void> {
  const { code } = await deps.codes.issue({ purpose: input.purpose, flowId: input.flowId, accountId: input.accountId, channel, target: input.target }, t);
  if (input.accountId === null || input.target === null) return;
  await deps.delivery.enqueueMessage({
    channel,
    to: input.target,
    lang: input.lang,
    template: input.purpose === 'reset' ? 'code.reset' : input.purpose === 'sign_in' ? 'code.sign_in' : 'code.registration',
    params: { code, minutes: deps.codes.ttlMinutes, name: input.name ?? null },
    accountId: input.accountId,
    correlationId: input.correlationId ?? null,
  }, t);
}
