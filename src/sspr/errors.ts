import { AppError, type AppErrorOptions } from '../errors.ts';

/**
 * SSPR's errors: one stable snake_case `code` per thing a page or a test must tell apart, after
 * oidc-provider's lib/helpers/errors.js. Members of the one error family (src/errors.ts): `code`
 * selects the message (`errors:sspr.<code>` unless a class names another), `params` fill it in,
 * `detail` is for logs only and never reaches a page, `expose` says whether the message may be shown
 * at all (`status < 500`).
 */

export type SsprErrorOptions = Omit<AppErrorOptions, 'messageId'>;

export class SsprError extends AppError {
  constructor(code: string, status: number, message: string, options: SsprErrorOptions & { messageId?: string } = {}) {
    super(code, status, message, { messageId: `errors:sspr.${code}`, ...options });
    this.name = 'SsprError';
  }

  /** What may cross the wire: never `detail`. */
  toJSON(): { code: string; status: number; message: string; params?: Record<string, unknown> } {
    return { code: this.code, status: this.status, message: this.expose ? this.message : 'internal error', ...(this.params ? { params: this.params } : {}) };
  }
}

/** A subclass per code; `static code` lets callers compare without building an instance. */
function E<C extends string>(code: C, status: number, message: string, name: string, messageId?: string) {
  const Class = class extends SsprError {
    static readonly code: C = code;
    declare code: C;
    constructor(options: SsprErrorOptions = {}) {
      super(code, status, message, messageId === undefined ? options : { ...options, messageId });
      this.name = name;
    }
  };
  Object.defineProperty(Class, 'name', { value: name });
  return Class;
}

export const CodeInvalid = E('code_invalid', 400, 'the code is not valid', 'CodeInvalid');
export const CodeExpired = E('code_expired', 400, 'the code has expired', 'CodeExpired');
export const CodeUsed = E('code_used', 400, 'the code was already used', 'CodeUsed');
export const TooManyAttempts = E('too_many_attempts', 429, 'too many wrong codes; request a new one', 'TooManyAttempts');
export const FlowExpired = E('flow_expired', 410, 'the flow has expired', 'FlowExpired');
/** Wrong state for this step: a skipped step, a replayed form, a flow of another kind. */
export const FlowInvalid = E('flow_invalid', 400, 'this step is not possible now', 'FlowInvalid');
export const MethodNotAllowed = E('method_not_allowed', 400, 'this method is not allowed', 'MethodNotAllowed');
/** A bad email address or phone number, or a country SMS may not go to. */
export const MethodInvalidTarget = E('method_invalid_target', 400, 'the address or number is not usable', 'MethodInvalidTarget');
/** A valid number in an allowed country that is no handset: premium-rate, shared-cost, landline, VoIP, … */
export const NumberNotMobile = E('number_not_mobile', 400, 'this number cannot receive SMS codes', 'NumberNotMobile');
export const NotFound = E('not_found', 404, 'not found', 'NotFound', 'errors:not_found');

const ThrottledBase = E('throttled', 429, 'too many requests; try again later', 'Throttled');
/** Carries when the block ends; `now` comes from the caller's clock (no Date.now() in the domain). */
export class Throttled extends ThrottledBase {
  /** Whole seconds until the block ends (for Retry-After). */
  retryAfter: number;
  until: Date;
  constructor(options: SsprErrorOptions & { until: Date; now: Date }) {
    const retryAfter = Math.max(0, Math.ceil((options.until.getTime() - options.now.getTime()) / 1000));
    super({ ...options, params: { ...options.params, retryAfter, until: options.until.toISOString() } });
    this.retryAfter = retryAfter;
    this.until = options.until;
  }
}

/** Rules a new password can fail; each has its own message beside the password field. */
export type PasswordRule = 'too_short' | 'too_long' | 'too_weak' | 'banned' | 'contains_login' | 'same_as_current' | 'mismatch' | 'wrong_current';

const PasswordRejectedBase = E('password_rejected', 400, 'the password does not meet the policy', 'PasswordRejected');
export class PasswordRejected extends PasswordRejectedBase {
  failed: PasswordRule[];
  constructor(options: SsprErrorOptions & { failed: PasswordRule[] }) {
    super({ ...options, params: { ...options.params, failed: options.failed } });
    this.failed = options.failed;
  }
}

export type CodeInvalid = InstanceType<typeof CodeInvalid>;
export type CodeExpired = InstanceType<typeof CodeExpired>;
export type CodeUsed = InstanceType<typeof CodeUsed>;
export type TooManyAttempts = InstanceType<typeof TooManyAttempts>;
export type FlowExpired = InstanceType<typeof FlowExpired>;
export type FlowInvalid = InstanceType<typeof FlowInvalid>;
export type MethodNotAllowed = InstanceType<typeof MethodNotAllowed>;
export type MethodInvalidTarget = InstanceType<typeof MethodInvalidTarget>;
export type NumberNotMobile = InstanceType<typeof NumberNotMobile>;
export type NotFound = InstanceType<typeof NotFound>;

export const SSPR_ERROR_CODES = [
  'code_invalid', 'code_expired', 'code_used', 'too_many_attempts', 'throttled', 'flow_expired',
  'flow_invalid', 'method_not_allowed', 'method_invalid_target', 'number_not_mobile', 'password_rejected', 'not_found',
] as const;
export type SsprErrorCode = (typeof SSPR_ERROR_CODES)[number];

/**
 * True for any SsprError, optionally of one code. Checks the shape too, not only `instanceof`, so an
 * error from a second copy of this module (a host bundling its own) is still recognised.
 */
export function isSsprError(err: unknown, code?: SsprErrorCode): err is SsprError {
  const e = err as Partial<SsprError> | null;
  const ok = err instanceof SsprError
    || (err instanceof Error && (SSPR_ERROR_CODES as readonly unknown[]).includes(e?.code)
      && typeof e?.status === 'number' && typeof e?.expose === 'boolean');
  return ok && (code === undefined || (err as SsprError).code === code);
}
