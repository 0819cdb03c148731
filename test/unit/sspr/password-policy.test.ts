import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passwordPolicySchema, type PasswordPolicyConfig } from '../../../src/config/schema.ts';
import { commonPasswordsFromZxcvbn, createPasswordPolicy, type PasswordCheck, type PasswordPolicy } from '../../../src/sspr/password-policy.ts';

const STRONG = 'quartz lantern migrates sideways';
const ctx = { login: 'alice', email: 'a.smith@example.org' };
const failed = (r: PasswordCheck) => (r.ok ? [] : r.failed);

describe('sspr/password-policy', () => {
  let dir: string;
  let policy: PasswordPolicy;
  const config = (over: Partial<PasswordPolicyConfig> = {}): PasswordPolicyConfig => passwordPolicySchema.parse(over);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-pw-'));
    policy = await createPasswordPolicy(config());
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts a long passphrase without any composition rule', () => {
    const r = policy.check(STRONG, ctx);
    assert.deepEqual(r, { ok: true, score: 4 });
  });

  it('counts length in code points after NFC normalisation', async () => {
    const p = await createPasswordPolicy(config({ min_length: 15, min_strength: 0 }));
    // 15 emoji: 30 UTF-16 units but 15 code points.
    const emoji = '🦊🐙🦉🐝🦑🐢🦒🐬🦔🐌🦩🐞🦦🐊🦘';
    assert.equal(emoji.length, 30);
    assert.deepEqual(failed(p.check(emoji, ctx)), []);
    assert.deepEqual(failed(p.check(emoji.slice(0, 28), ctx)), ['too_short']);
    // "é" typed as e + combining accent is one character once normalised.
    const decomposed = 'cafe\u0301'.repeat(3) + 'xy';
    assert.equal(decomposed.length, 17);
    assert.deepEqual(failed(p.check(decomposed, ctx)), ['too_short']);
    assert.deepEqual(failed(p.check(`${decomposed}z`, ctx)), []);
  });

  it('refuses passwords over max_length instead of truncating them', async () => {
    const p = await createPasswordPolicy(config({ min_strength: 0, max_length: 64 }));
    const words = 'plum orbit cactus vendor hinge mosaic tulip ';
    const exact = words.repeat(2).slice(0, 64);
    assert.deepEqual(failed(p.check(exact, ctx)), []);
    const r = p.check(`${exact}z`, ctx);
    assert.deepEqual(failed(r), ['too_long']);
  });

  it('refuses common passwords, also with the usual padding and in any case', async () => {
    const p = await createPasswordPolicy(config({ min_length: 8, min_strength: 0 }));
    assert.ok(failed(p.check('password', ctx)).includes('banned'));
    assert.ok(failed(p.check('Password2024!', ctx)).includes('banned'));
    assert.ok(failed(p.check('!!FOOTBALL123', ctx)).includes('banned'));
    assert.deepEqual(failed(p.check('marmalade tiger', ctx)), []);
  });

  it('adds the lines of banned_passwords_file', async () => {
    const file = join(dir, 'banned.txt');
    writeFileSync(file, 'Acme Corporation Rocks\r\n\n  winter-is-coming-2026  \n');
    const p = await createPasswordPolicy(config({ banned_passwords_file: file, min_strength: 0 }));
    assert.ok(failed(p.check('acme corporation rocks', ctx)).includes('banned'));
    assert.ok(failed(p.check('WINTER-IS-COMING-2026', ctx)).includes('banned'));
    assert.ok(!failed(policy.check('acme corporation rocks', ctx)).includes('banned'));
  });

  it('refuses the product name, the login and the email address', () => {
    assert.ok(failed(policy.check('my oidc-sspr password rocks', ctx)).includes('banned'));
    assert.ok(failed(policy.check('SSPR lantern migrates sideways', ctx)).includes('banned'));
    assert.ok(failed(policy.check('quartz ALICE migrates sideways', ctx)).includes('contains_login'));
    assert.ok(failed(policy.check('quartz a.smith lantern sideways', ctx)).includes('contains_login'));
    assert.deepEqual(failed(policy.check(STRONG, { login: 'bo', email: 'x@y.z' })), [], 'words under 3 characters are not context');
  });

  it('refuses the current password and a mismatched repeat', () => {
    assert.deepEqual(failed(policy.check(STRONG, { ...ctx, currentPasswordMatches: true })), ['same_as_current']);
    assert.deepEqual(failed(policy.check(STRONG, { ...ctx, confirmation: `${STRONG} ` })), ['mismatch']);
    assert.deepEqual(failed(policy.check(STRONG, { ...ctx, confirmation: STRONG.normalize('NFD') })), []);
  });

  it('refuses a long but guessable password as too weak, with its score', () => {
    const r = policy.check('aaaaaaaaaaaaaaaaaaaa', ctx);
    assert.equal(r.ok, false);
    assert.deepEqual(failed(r), ['too_weak']);
    assert.ok(r.score < 3);
    const sequence = policy.check('abcdefghijklmnopqrstu', ctx);
    assert.deepEqual(failed(sequence), ['too_weak']);
  });

  it('lists every rule that failed', () => {
    assert.deepEqual(failed(policy.check('alice', { ...ctx, currentPasswordMatches: true, confirmation: 'x' })).sort(),
      ['contains_login', 'mismatch', 'same_as_current', 'too_short', 'too_weak']);
  });

  it('describes itself for the page', async () => {
    const p = await createPasswordPolicy(config({ min_length: 12, max_length: 200, min_strength: 2 }));
    assert.deepEqual(p.describe(), { minLength: 12, maxLength: 200, minStrength: 2 });
  });

  it('ships the built-in list generated from the zxcvbn-ts dictionary', () => {
    const lines = readFileSync(new URL('../../../src/sspr/data/common-passwords.txt', import.meta.url), 'utf8').trim().split('\n');
    assert.equal(lines.length, 1000);
    assert.deepEqual(lines, commonPasswordsFromZxcvbn(1000));
    for (const l of lines) assert.ok([...l].length >= 8 && l === l.toLowerCase(), l);
  });
});
