import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { compileCacheEnv } from '../support/compile-cache.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * What a password sign-in keeps in memory: libraries only some requests need are loaded by those
 * requests (src/lazy.ts, the passkey method). Every package loaded stays in the heap for the life of
 * the server, and a full garbage collection marks all of it (`npm run bench`: RSS and CPU per
 * sign-in). Seen in a process of its own (test/support/loaded-packages.ts): this one has loaded them all.
 */
describe('libraries a sign-in does not need stay unloaded', function () {
  this.timeout(120_000);

  it('a password sign-in with passkey sign-in on offer loads no WebAuthn library; the first passkey request does', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--conditions=source', 'test/support/loaded-packages.ts'], {
      cwd: ROOT, env: { ...process.env, ...compileCacheEnv(), LOG_LEVEL: 'warn' }, timeout: 100_000,
    });
    const steps = stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { after: string; status?: number; packages: string[] });
    const [signIn, passkey] = steps;
    assert.equal(signIn?.after, 'password sign-in', stdout);
    for (const heavy of ['@simplewebauthn/server', '@peculiar/x509', 'libphonenumber-js', 'otplib', '@zxcvbn-ts/core']) {
      assert.ok(!signIn.packages.includes(heavy), `${heavy} was loaded by a password sign-in`);
    }
    assert.equal(passkey?.status, 200);
    assert.ok(passkey.packages.includes('@simplewebauthn/server'), 'the passkey options request loads the library (the check above can see it)');
  });
});
