import parse from 'co-body';
import type { Context } from 'koa';
import { PageError, badRequest } from './errors.ts';

const LIMIT = '16kb';
const MAX_FIELDS = 20;

/**
 * Reads a urlencoded form with hard limits. Our forms only have flat text fields, so a repeated,
 * array- or object-valued field is refused rather than guessed at.
 */
export async function readForm(ctx: Context): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw badRequest(`content-type ${ctx.get('content-type') || '(none)'}`);
  let body: unknown;
  try {
    body = await parse.form(ctx.req, {
      limit: LIMIT,
      // qs drops the fields past parameterLimit silently: parse one more, so the count below sees the excess.
      queryString: { parameterLimit: MAX_FIELDS + 1, depth: 0, arrayLimit: 0, allowPrototypes: false, parseArrays: false },
    });
  } catch (err) {
    const status = (err as { status?: number }).status;
    if (status === 413) throw new PageError(413, 'payload_too_large');
    throw badRequest((err as Error).message);
  }
  if (typeof body !== 'object' || body === null) throw badRequest('not a form');
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  const entries = Object.entries(body as Record<string, unknown>);
  if (entries.length > MAX_FIELDS) throw badRequest('too many fields');
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw badRequest(`field ${key} is not text`);
    if (value.includes('\u0000')) throw badRequest(`field ${key} has a NUL`);
    out[key] = value;
  }
  return out;
}

/** A required text field, trimmed (passwords: not trimmed), with a maximum length. */
export function field(form: Record<string, string>, name: string, opts: { max: number; trim?: boolean; optional?: boolean }): string {
  const raw = form[name];
  if (raw === undefined) {
    if (opts.optional) return '';
    throw badRequest(`missing ${name}`);
  }
  const value = opts.trim === false ? raw : raw.trim();
  if (value.length > opts.max) throw badRequest(`${name} too long`);
  return value;
}
