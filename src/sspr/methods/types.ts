import type { MethodType } from '../../config/schema.ts';
import type { RequestContext } from '../../audit/index.ts';
import type { Language } from '../../i18n/index.ts';
import type { TransactionHandle as Transaction } from '../ports.ts';

export type { MethodType };

export type { StoredMethod } from '../ports.ts';
import type { StoredMethod } from '../ports.ts';

/** Storage moved to the ports; re-exported for the imports that still look here. */
export type { MethodRepository } from '../ports.ts';

export interface SendCodeInput {
  flowId: string;
  purpose: 'registration' | 'reset' | 'change' | 'sign_in';
  /** Null for an unknown account, or when the typed address/number does not match: a code is issued but nothing is sent, so everything after looks the same. */
  accountId: string | null;
  target: string | null;
  lang: Language;
  name?: string | null;
  correlationId?: string | null;
}

/**
 * What the enrolment page shows of a held secret while it is being registered: the method's own view
 * partial (`views/methods/<partial>.ejs`) and its data. Rebuilt from the sealed pending state on
 * every view, so a reload shows the same secret.
 */
export interface EnrolmentView {
  partial: string;
  data: Record<string, unknown>;
  /** The field the user types the proof into: digits only (a numeric keypad), and how long. */
  code: { digits: boolean; maxLength: number };
}

/** One proof of a reset, against what the account holds; unknown ids get the same work. */
export interface ProofInput {
  /** The account behind the flow when it may reset at all; null for ids that lead nowhere. */
  accountId: string | null;
  /** The account's registered method of this type, when it has one and is eligible; else null. */
  stored: StoredMethod | null;
  code: string;
  /** Who asks, for methods that audit their own checks. */
  context?: RequestContext;
  /** What a ceremony's challenge was bound to (the reset flow's id): a challenge of another flow is refused. */
  binding?: string;
}

interface MethodBase {
  /** The id in `sspr.methods`, on pages (`registration:method.<id>`) and in the audit log. */
  readonly id: string;
  /**
   * Counts as its own type toward `methods_required` ("two methods" means two types). A method that
   * is not registered (the helpdesk's pass) counts nowhere: it stands for the whole proof.
   */
  readonly registrable: boolean;
  /** True when one proof of it is the whole proof of a reset (the Temporary Access Pass). */
  readonly provesAll: boolean;
  /** The field its proof is typed into: digits only (a numeric keypad), and how long at most. */
  readonly proofInput: { digits: boolean; maxLength: number };
  /**
   * RFC 8176 `amr` values of a sign-in's second step with this method (`otp`, `sms`, `hwk`+`user`…);
   * left out, the method does not serve as a second factor at sign-in (the helpdesk's pass).
   */
  readonly amr?: readonly string[];
  /** For pages and CLI output (masked address or number, remaining codes); null when there is nothing to show. */
  describe(stored: Pick<StoredMethod, 'target' | 'secretEnc'>): { masked: string | null; remaining?: number };
}

/** Proven by a code sent to an address or number the user types (email, SMS). */
export interface TargetMethod extends MethodBase {
  readonly kind: 'target';
  /** Where its codes and notices go. */
  readonly channel: 'email' | 'sms';
  /** Its sends' limit in `sspr.throttle`. */
  readonly sendLimit: 'email_sends' | 'sms_sends';
  /** The profile claim an equal registered target verifies (`email_verified`, `phone_number_verified`). */
  readonly profileField: 'email' | 'phone';
  /** Validates and normalises what the user typed; throws MethodInvalidTarget. */
  normaliseTarget(input: string): string;
  mask(target: string): string;
  sendCode(input: SendCodeInput, t?: Transaction): Promise<void>;
  /** Throws an SsprError (code_invalid, code_expired, too_many_attempts…) unless the code matches. */
  verifyCode(input: { flowId: string; code: string }, t?: Transaction): Promise<{ accountId: string | null; target: string | null }>;
}

/** Proven with something the user holds: a secret set up at enrolment (authenticator app, recovery codes, a helpdesk pass). */
export interface HeldSecretMethod extends MethodBase {
  readonly kind: 'held_secret';
  /** Starts an enrolment: the sealed state the flow keeps until it is proven, and its page. */
  enrol(label: string): Promise<{ pending: string; view: EnrolmentView }>;
  /** The enrolment page again, from the pending state. */
  show(pending: string, label: string): Promise<EnrolmentView>;
  /** Proves the enrolment with a code typed back; returns what to store. Throws CodeInvalid. */
  confirm(pending: string, code: string): Promise<{ secretEnc: string; lastTimeStep: number | null }>;
  /**
   * A reset proof. Throws CodeInvalid for a wrong, used or replayed code alike, and for ids that lead
   * nowhere after the same work. What may be used once is used up atomically (`t`).
   */
  prove(input: ProofInput, t?: Transaction): Promise<void>;
}

/**
 * Proven by a ceremony the browser runs with something the user holds (a passkey): the page asks
 * for options (a challenge bound to the flow), the browser answers, `prove` checks the answer.
 * Registered on pages of its own, not through the code-typing steps.
 */
export interface CeremonyMethod extends MethodBase {
  readonly kind: 'ceremony';
  /**
   * Options for the browser's ceremony, bound to `binding` and stored (single use, with expiry). The
   * same for every account (nothing in them names the account's credentials), so they reveal nothing.
   */
  proofOptions(input: { binding: string; accountId: string | null }, t?: Transaction): Promise<Record<string, unknown>>;
  /**
   * A reset proof: `code` is the browser's answer (JSON), for a challenge bound to `input.binding`.
   * Throws CodeInvalid for a wrong, replayed or foreign answer alike, and for ids that lead nowhere
   * after the same work.
   */
  prove(input: ProofInput & { binding: string }, t?: Transaction): Promise<void>;
}

export type Method = TargetMethod | HeldSecretMethod | CeremonyMethod;

/** The methods, looked up by id; the only place that knows which exist (methods/index.ts). */
export interface MethodRegistry {
  /** Every method, registrable ones in `METHOD_TYPES` order first. */
  readonly all: readonly Method[];
  get(id: string): Method | undefined;
  /** A registrable method by type; throws for an id no method has (a bug, not user input). */
  of(type: MethodType): Method;
}
