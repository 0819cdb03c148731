/**
 * The one error family: every refusal oidc-sspr means to show (a page, a JSON answer or a CLI line)
 * is an AppError with a stable snake_case `code`, an HTTP `status` and a `messageId` (an i18n key,
 * safe for any user). `detail` is for logs only. One family means one error handler
 * (src/extension.ts `errorPages`) and one test for "never a stack trace to a user": whatever is not
 * an AppError — or is one with `expose` false — becomes the generic page.
 * After oidc-provider's lib/helpers/errors.js and logto's RequestError.
 */

export interface AppErrorOptions {
  /** For logs only, never shown. */
  detail?: string;
  /** Interpolation values for the message; never secrets, addresses or numbers. */
  params?: Record<string, unknown>;
  /** The i18n key of the message a user sees; default `errors:<code>`. */
  messageId?: string;
  cause?: unknown;
}

export class AppError extends Error {
  code: string;
  status: number;
  /** Whether the message may be shown: client errors are, server errors become the generic page. */
  expose: boolean;
  messageId: string;
  detail?: string;
  params?: Record<string, unknown>;

  constructor(code: string, status: number, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.status = status;
    this.expose = status < 500;
    this.messageId = options.messageId ?? `errors:${code}`;
    if (options.detail !== undefined) this.detail = options.detail;
    if (options.params !== undefined) this.params = options.params;
  }
}

/**
 * True for any AppError. Checks the shape too, not only `instanceof`, so an error from a second copy
 * of this module (a host bundling its own) is still recognised.
 */
export function isAppError(err: unknown): err is AppError {
  if (err instanceof AppError) return true;
  const e = err as Partial<AppError> | null;
  return err instanceof Error && typeof e?.code === 'string' && typeof e.status === 'number'
    && typeof e.expose === 'boolean' && typeof e.messageId === 'string';
}
