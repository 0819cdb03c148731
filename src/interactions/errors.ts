import { AppError } from '../errors.ts';

/** A way on from an error page: a link, its text (an i18n key) and that text's parameters. */
export interface PageLink {
  href: string;
  labelKey: string;
  params?: Record<string, unknown>;
}

/**
 * A refusal that belongs to the pages rather than the domain (a bad form, a stale CSRF token, an
 * expired interaction): the same family as SsprError (src/errors.ts), so one handler shows both.
 * `links` are the ways on the error page offers (back to the app, start again).
 */
export class PageError extends AppError {
  links?: PageLink[];
  constructor(status: number, code: string, messageId = `errors:${code}`, detail?: string, extra: { params?: Record<string, unknown>; links?: PageLink[] } = {}) {
    super(code, status, code, { messageId, ...(detail === undefined ? {} : { detail }), ...(extra.params ? { params: extra.params } : {}) });
    this.name = 'PageError';
    if (extra.links) this.links = extra.links;
  }
}

export const badRequest = (detail?: string) => new PageError(400, 'bad_request', 'errors:bad_request', detail);
export const csrfFailed = () => new PageError(403, 'csrf', 'errors:csrf');
export const interactionExpired = (detail?: string, links?: PageLink[]) =>
  new PageError(400, 'session_expired', 'errors:session_expired', detail, { links });
/** The sign-in behind this address already ended (finished or cancelled): not "took too long". */
export const interactionEnded = (how: 'finished' | 'cancelled', client: string | null, links: PageLink[]) =>
  new PageError(400, `interaction_${how}`, `errors:interaction_${how}${client ? '_client' : ''}`, undefined, { params: client ? { client } : {}, links });
