import type { Language } from '../../i18n/index.ts';
import { FlowExpired, FlowInvalid, MethodNotAllowed } from '../errors.ts';
import type { Method } from '../methods/types.ts';

/**
 * The forgot-password flow's state machine, pure: states, events, which states accept which event
 * (`TRANSITIONS`), and `advance`, which checks an event against the state and returns the next flow
 * or throws. Drawn in docs/reset-flow.mermaid; the service that loads, re-checks and saves each step
 * is flows/reset.ts. Which path a method takes is its kind: the machine never names a method.
 */

type MethodKind = Method['kind'];

export const RESET_STATES = ['awaiting_identifier', 'awaiting_method', 'awaiting_target', 'awaiting_code', 'awaiting_password', 'done'] as const;
export type ResetState = (typeof RESET_STATES)[number];

export interface ResetData {
  /** SHA-256 of the browser secret kept in the flow cookie: the flow id alone (it is the audit correlation id) does not open the flow. */
  bind: string;
  /** The identifier as typed, normalised (throttle keys); null before the first step. */
  identifier: string | null;
  methodsRequired: 1 | 2;
  /** Distinct methods proven in this flow (ids). */
  verified: string[];
  /** True once a method that is the whole proof (the helpdesk's pass) was proven. */
  complete?: boolean;
  /**
   * The method being proven, its kind, and what the user typed, masked (so the page is the same either
   * way) and as normalised (so "send a new code" sends to the same place without asking again).
   */
  pending: { type: string; kind?: MethodKind; masked: string | null; target?: string } | null;
  lang: Language;
}

export interface ResetFlowState {
  id: string;
  state: ResetState;
  /** Null for an identifier that leads nowhere (unknown, disabled, out of scope, not registered). */
  accountId: string | null;
  interactionUid: string | null;
  data: ResetData;
  expiresAt: Date;
}

export type ResetEvent =
  | { type: 'identify'; identifier: string; accountId: string | null; methodsRequired: 1 | 2 }
  | { type: 'choose'; method: string; kind: MethodKind; offered: readonly string[] }
  | { type: 'code_issued'; masked: string | null; target?: string }
  | { type: 'verified'; method: string; provesAll: boolean }
  | { type: 'completed' };

/**
 * Which states accept which event. Choosing again from the target or code page switches method; a
 * code issued on the code page is "send a new code".
 */
export const TRANSITIONS: Record<ResetEvent['type'], readonly ResetState[]> = {
  identify: ['awaiting_identifier'],
  choose: ['awaiting_method', 'awaiting_target', 'awaiting_code'],
  code_issued: ['awaiting_target', 'awaiting_code'],
  verified: ['awaiting_code'],
  completed: ['awaiting_password'],
};

export function invalid(flow: ResetFlowState, event: string): FlowInvalid {
  return new FlowInvalid({ detail: `reset flow ${flow.id}: ${event} not possible in state ${flow.state}` });
}

/** Throws FlowExpired once the flow's time is up (a finished flow is refused as invalid instead). */
export function assertLive(flow: ResetFlowState, now: Date): void {
  if (flow.state === 'done') throw invalid(flow, 'any step');
  if (flow.expiresAt.getTime() <= now.getTime()) throw new FlowExpired({ detail: `reset flow ${flow.id} expired at ${flow.expiresAt.toISOString()}` });
}

/** Pure transition: the next flow for `event`, or an SsprError. */
export function advance(flow: ResetFlowState, event: ResetEvent, now: Date): ResetFlowState {
  assertLive(flow, now);
  if (!TRANSITIONS[event.type].includes(flow.state)) throw invalid(flow, event.type);
  const data = flow.data;
  switch (event.type) {
    case 'identify':
      return {
        ...flow,
        state: 'awaiting_method',
        accountId: event.accountId,
        data: { ...data, identifier: event.identifier, methodsRequired: event.methodsRequired, verified: [], pending: null },
      };
    case 'choose': {
      // Two methods means two different types: a proven type is not offered again.
      if (!event.offered.includes(event.method) || data.verified.includes(event.method)) {
        throw new MethodNotAllowed({ detail: `reset flow ${flow.id}: ${event.method} not offered` });
      }
      const pending = { type: event.method, kind: event.kind, masked: null };
      // A code goes to an address or number the user types first; a held secret is typed at once.
      return { ...flow, state: event.kind === 'target' ? 'awaiting_target' : 'awaiting_code', data: { ...data, pending } };
    }
    case 'code_issued':
      if (!data.pending || data.pending.kind !== 'target') throw invalid(flow, event.type);
      return { ...flow, state: 'awaiting_code', data: { ...data, pending: { ...data.pending, masked: event.masked, ...(event.target === undefined ? {} : { target: event.target }) } } };
    case 'verified': {
      if (!data.pending || data.pending.type !== event.method || flow.accountId === null) throw invalid(flow, event.type);
      const verified = data.verified.includes(event.method) ? data.verified : [...data.verified, event.method];
      const complete = data.complete === true || event.provesAll;
      const enough = complete || verified.length >= data.methodsRequired;
      return { ...flow, state: enough ? 'awaiting_password' : 'awaiting_method', data: { ...data, verified, complete, pending: null } };
    }
    case 'completed':
      if (flow.accountId === null || !proofComplete(data)) throw invalid(flow, event.type);
      return { ...flow, state: 'done', data: { ...data, pending: null } };
  }
}

/** Enough distinct methods proven, or one that is the whole proof. */
export function proofComplete(data: ResetData): boolean {
  return data.complete === true || new Set(data.verified).size >= data.methodsRequired;
}

/** Where the browser belongs for a flow's state (routes redirect GETs there). */
export function pageOf(state: ResetState): 'identifier' | 'method' | 'target' | 'code' | 'password' | 'done' {
  switch (state) {
    case 'awaiting_identifier': return 'identifier';
    case 'awaiting_method': return 'method';
    case 'awaiting_target': return 'target';
    case 'awaiting_code': return 'code';
    case 'awaiting_password': return 'password';
    case 'done': return 'done';
  }
}
