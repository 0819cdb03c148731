import { AppError } from '../errors.ts';

/**
 * A refusal that belongs to the pages rather than the domain (a bad form, a stale CSRF token, an
 * expired interaction): the same family as SsprError (src/errors.ts), so one handler shows both.
 */
export class PageError extends AppError {
  constructor(status: number, code: string, messageId = `errors:${code}`, detail?: string) {
    super(code, status, code, { messageId, ...(detail === undefined ? {} : { detail }) });
    this.name = 'PageError';
  }
}

export const badRequest = (detail?: string) => new PageError(400, 'bad_request', 'errors:bad_request', detail);
export const csrfFailed = () => new PageError(403, 'csrf', 'errors:csrf');
export const interactionExpired = (detail?: string) => new PageError(400, 'session_expired', 'errors:session_expired', detail);
