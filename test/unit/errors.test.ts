import assert from 'node:assert/strict';
import { ConfigError } from '../../src/config/load.ts';
import { AppError, isAppError } from '../../src/errors.ts';
import { catalogs } from '../../src/i18n/locales/index.ts';
import { badRequest, csrfFailed, PageError } from '../../src/interactions/errors.ts';
import { CodeInvalid, NotFound, PasswordRejected, SSPR_ERROR_CODES, SsprError, Throttled } from '../../src/sspr/errors.ts';

/** Whether `errors:a.b` names a string in the English catalog. */
function known(messageId: string): boolean {
  const [ns, path] = messageId.split(':');
  let node: unknown = (catalogs.en as Record<string, unknown>)[ns];
  for (const part of path.split('.')) node = node && typeof node === 'object' ? (node as Record<string, unknown>)[part] : undefined;
  return typeof node === 'string';
}

describe('one error family: a typed code, an HTTP status and a user-safe message id', () => {
  it('page, domain and configuration errors are all AppErrors that one handler can read', () => {
    const all: AppError[] = [badRequest(), csrfFailed(), new PageError(404, 'not_found'), new CodeInvalid(),
      new Throttled({ until: new Date(60_000), now: new Date(0) }), new PasswordRejected({ failed: ['too_short'] }),
      new ConfigError('sspr.methods: unknown')];
    for (const err of all) {
      assert.ok(err instanceof AppError && isAppError(err), err.name);
      assert.equal(typeof err.code, 'string');
      assert.equal(typeof err.status, 'number');
      assert.ok(known(err.messageId), `${err.name}: ${err.messageId} has a text`);
    }
  });

  it('every SsprError code has a message a page can show', () => {
    const classes = { not_found: new NotFound() } as Record<string, SsprError>;
    for (const code of SSPR_ERROR_CODES) {
      const err = classes[code] ?? new SsprError(code, 400, code);
      assert.ok(known(err.messageId), `${code}: ${err.messageId}`);
    }
  });

  it('a configuration error is a server fault: not exposed, so a page shows only the generic text', () => {
    const err = new ConfigError('database: required');
    assert.equal(err.expose, false);
    assert.equal(err.messageId, 'errors:generic');
    assert.equal(err.name, 'ConfigError');
  });

  it('a look-alike from a second copy of the module is still recognised; a plain Error is not', () => {
    const foreign = Object.assign(new Error('x'), { code: 'csrf', status: 403, expose: true, messageId: 'errors:csrf' });
    assert.ok(isAppError(foreign));
    assert.ok(!isAppError(new Error('boom')));
  });
});
