/** An error that reaches the user as a page (or JSON) with a stable code; `detail` goes to logs only. */
export class PageError extends Error {
  override name = 'PageError';
  status: number;
  code: string;
  messageId: string;
  detail?: string;
  constructor(status: number, code: string, messageId = `errors:${code}`, detail?: string) {
    super(code);
    this.status = status;
    this.code = code;
    this.messageId = messageId;
    this.detail = detail;
  }
}

export const badRequest = (detail?: string) => new PageError(400, 'bad_request', 'errors:bad_request', detail);
export const csrfFailed = () => new PageError(403, 'csrf', 'errors:csrf');
export const interactionExpired = (detail?: string) => new PageError(400, 'session_expired', 'errors:session_expired', detail);
