import { AppError } from '../errors.ts';

export type AdminErrorCode =
  | 'user_exists'
  | 'user_not_found'
  | 'group_exists'
  | 'group_not_found'
  | 'invalid_input'
  | 'password_rejected';

/** HTTP-style status per code, so an admin refusal reads like every other AppError. */
const STATUS: Record<AdminErrorCode, number> = {
  user_exists: 409, group_exists: 409, user_not_found: 404, group_not_found: 404, invalid_input: 400, password_rejected: 400,
};

/**
 * An admin operation refused; `message` is one line fit for an admin's terminal. A member of the one
 * error family (src/errors.ts); the CLI prints the message of any AppError the same way.
 */
export class AdminError extends AppError {
  declare readonly code: AdminErrorCode;
  /** The input field at fault, for `invalid_input`. */
  readonly field: string | undefined;
  /** The password rules that failed, for `password_rejected`. */
  readonly rules: string[];
  constructor(code: AdminErrorCode, message: string, extra: { field?: string; rules?: string[] } = {}) {
    super(code, STATUS[code], message, { messageId: code === 'user_not_found' || code === 'group_not_found' ? 'errors:not_found' : 'errors:bad_request' });
    this.name = 'AdminError';
    this.field = extra.field;
    this.rules = extra.rules ?? [];
  }
}
