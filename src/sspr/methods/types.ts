import type { MethodType } from '../../config/schema.ts';
import type { Language } from '../../i18n/index.ts';
import type { TransactionHandle as Transaction } from '../ports.ts';

export type { MethodType };

/** A registered recovery method (its own record: never the profile's email/phone). */
export interface StoredMethod {
  id: string;
  accountId: string;
  type: MethodType;
  /** Email address or E.164 number; null for TOTP. */
  target: string | null;
  /** TOTP secret, sealed with the secret box; never shown after enrolment. */
  secretEnc: string | null;
  /** Last accepted TOTP time step: a code of that step or older is a replay. */
  lastTimeStep: number | null;
  verifiedAt: Date | null;
}

/** Storage moved to the ports; re-exported for the imports that still look here. */
export type { MethodRepository } from '../ports.ts';

export interface SendCodeInput {
  flowId: string;
  purpose: 'registration' | 'reset' | 'change';
  /** Null for an unknown account, or when the typed address/number does not match: a code is issued but nothing is sent, so everything after looks the same. */
  accountId: string | null;
  target: string | null;
  lang: Language;
  name?: string | null;
  correlationId?: string | null;
}

/** Email and SMS: a code sent to an address or number the user typed. */
export interface CodeMethod {
  type: 'email' | 'sms';
  /** Validates and normalises what the user typed (lowercased address; E.164 number in an allowed country); throws MethodInvalidTarget. */
  normaliseTarget(input: string): string;
  /** For pages and CLI output: `a•••@example.org`, `+31 •• ••• ••78`. */
  mask(target: string): string;
  sendCode(input: SendCodeInput, t?: Transaction): Promise<void>;
  /** Throws an SsprError (code_invalid, code_expired, too_many_attempts…) unless the code matches. */
  verifyCode(input: { flowId: string; code: string }, t?: Transaction): Promise<{ accountId: string | null; target: string | null }>;
}

export interface TotpEnrolment {
  /** Base32 secret, shown as text while enrolling only. */
  secret: string;
  secretEnc: string;
  uri: string;
  /** Inline SVG of the QR code (no script, fits our CSP). */
  qrSvg: string;
}

/** Authenticator app (TOTP, RFC 6238). */
export interface TotpMethod {
  type: 'totp';
  enrol(label: string): Promise<TotpEnrolment>;
  /** The enrolment page again (QR, secret, URI) for a secret sealed by `enrol`, while enrolment is pending. */
  show(secretEnc: string, label: string): Promise<TotpEnrolment>;
  /** Returns the accepted time step; throws CodeInvalid for a wrong code and for a replayed one alike. */
  verify(secretEnc: string, code: string, lastTimeStep: number | null): Promise<number>;
}

export interface Methods {
  email: CodeMethod;
  sms: CodeMethod;
  totp: TotpMethod;
}
