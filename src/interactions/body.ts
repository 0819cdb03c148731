import type { Context } from 'koa';
import { PageError, badRequest } from './errors.ts';

const LIMIT_BYTES = 16 * 1024;
const MAX_FIELDS = 20;

/**
 * The raw body, refused with 413 past the limit (declared or actual). Past the limit the request is
 * paused, not destroyed: the error page still goes out on the same socket (Node closes it afterwards).
 */
function readLimited(ctx: Context): Promise<Buffer> {
  const declared = Number(ctx.get('content-length') || 0);
  if (declared > LIMIT_BYTES) return Promise.reject(new PageError(413, 'payload_too_large'));
  const encoding = ctx.get('content-encoding').toLowerCase();
  if (encoding && encoding !== 'identity') return Promise.reject(badRequest(`content-encoding ${encoding}`));
  const req = ctx.req;
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (err: Error | null) => {
      req.off('data', onData).off('end', onEnd).off('error', settle).off('aborted', onAborted);
      if (!err) return resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
      req.pause();
      reject(err);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > LIMIT_BYTES) settle(new PageError(413, 'payload_too_large'));
      else chunks.push(chunk);
    };
    const onEnd = () => settle(null);
    const onAborted = () => settle(badRequest('request aborted'));
    req.on('data', onData).on('end', onEnd).on('error', settle).on('aborted', onAborted);
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Reads a urlencoded form with hard limits. Our forms only have flat text fields, so a repeated
 * field is refused rather than guessed at. WHATWG form decoding (URLSearchParams), as browsers encode.
 */
export async function readForm(ctx: Context): Promise<Record<string, string>> {
  if (!ctx.is('application/x-www-form-urlencoded')) throw badRequest(`content-type ${ctx.get('content-type') || '(none)'}`);
  const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(ctx.get('content-type'))?.[1]?.toLowerCase();
  if (charset && charset !== 'utf-8' && charset !== 'utf8') throw badRequest(`charset ${charset}`);
  let text: string;
  try {
    text = decoder.decode(await readLimited(ctx));
  } catch (err) {
    if (err instanceof PageError) throw err;
    throw badRequest(err instanceof TypeError ? 'body is not UTF-8' : (err as Error).message);
  }
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const [key, value] of new URLSearchParams(text)) {
    if (++count > MAX_FIELDS) throw badRequest('too many fields');
    if (key in out) throw badRequest(`field ${key} is not text`);
    if (value.includes('\u0000') || key.includes('\u0000')) throw badRequest(`field ${key} has a NUL`);
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
