/**
 * OWASP ASVS 5.0 V6.2 (password security) and NIST SP 800-63B rev4 §3.1.1.2 (password verifiers), one
 * named test per requirement. Each test fails when its protection is taken out; docs/security.md maps
 * the ids to these titles.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as zxcvbnCommon from '@zxcvbn-ts/language-common';
import { configSchema } from '../../src/config/schema.ts';
import { createPasswordPolicy, type PasswordPolicy } from '../../src/sspr/password-policy.ts';
import { Browser, attr, inputByAutocomplete, type Page } from '../support/browser.ts';
import { captureCodes } from '../support/codes.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

const DEFAULTS = configSchema.parse({}).password_policy;
/** Random-looking, so only the rule under test can refuse it. */
const STRONG_15 = 'Tz9#mq2!Lp4@vR8';

/** Every <input> of a page as its attribute text. */
const inputs = (html: string) => [...html.matchAll(/<input\b([^>]*)>/g)].map((m) => m[1]);


describe('ASVS 5.0 V6.2 passwords', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let policy: PasswordPolicy;
  let codes: Map<string, string>;
  const clock = new TestClock();
  let n = 0;

  before(async () => {
    policy = await createPasswordPolicy(DEFAULTS);
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: {
        password_policy: { ...DEFAULTS, min_strength: 2 },
        sspr: { enabled_for: 'all', require_registration_at_sign_in: false, throttle: { sign_in_failures: { delay_after: 100, block_after: 99, block_minutes: 15 } } },
      },
    });
    codes = captureCodes(srv.app);
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  /** Signs in through a real authorization request; true when the client got its callback. */
  async function signsIn(login: string, password: string): Promise<boolean> {
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const landed = await consentIfAsked(b, await signIn(b, (await rp.start(b)).page, login, password));
    if (landed.redirectedTo?.startsWith(rp.redirectUri)) return true;
    assert.equal(landed.status, 401, `neither signed in nor refused: ${landed.status} ${landed.url}`);
    return false;
  }

  async function userWithPassword(password: string) {
    const user = await seedUser(srv.app, { login: `pw-user-${++n}` });
    await srv.app.directory.setPassword(user.id, password);
    return user;
  }

  /** The new-password page of a stand-alone reset, reached with an email method. */
  async function newPasswordPage(): Promise<Page> {
    const user = await seedUser(srv.app, { login: `pw-reset-${++n}` });
    const address = `${user.login}.r@example.net`;
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: address });
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: user.login });
    const target = await b.submit(method, { method: 'email' });
    const codePage = await b.submit(target, { target: address });
    const flowId = b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];
    const page = await b.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: codes.get(flowId)! });
    assert.match(page.url, /\/reset\/password$/);
    return page;
  }

  it('V6.2.1 new passwords need at least 15 characters by default, and no setting allows fewer than 8', () => {
    assert.equal(DEFAULTS.min_length, 15);
    assert.equal(configSchema.safeParse({ password_policy: { min_length: 7 } }).success, false);
    const short = policy.check(STRONG_15.slice(0, 14), { login: 'someone' });
    assert.equal(short.ok, false);
    assert.ok(!short.ok && short.failed.includes('too_short'));
    assert.equal(policy.check(STRONG_15, { login: 'someone' }).ok, true, '15 characters are enough');
  });

  it('V6.2.9 passwords of 64 characters and more are accepted, set and signed in with (128 by default)', async () => {
    const p64 = 'quiet lanterns drift over the harbour while seven owls count ship';
    const p128 = `${p64} masts and the baker hums a tune nobody else remembers at dawn!!`.slice(0, 128);
    assert.ok([...p64].length >= 64);
    assert.equal([...p128].length, 128);
    assert.ok(DEFAULTS.max_length >= 64);
    assert.equal(configSchema.safeParse({ password_policy: { max_length: 63 } }).success, false, 'the maximum can never go below 64');
    for (const p of [p64, p128]) assert.equal(policy.check(p, { login: 'someone' }).ok, true, `${[...p].length} characters accepted`);
    const user = await userWithPassword(p128);
    assert.equal(await signsIn(user.login, p128), true, 'the sign-in form takes the 128-character password');
  });

  it('V6.2.8 a password is verified exactly as typed: a 100-character password differing only at character 90, or in case, is another password', async () => {
    const password = 'amber quokka juggles velvet turnips beneath the ninth lighthouse; marmalade comets orbit 4 slow ferns'.slice(0, 100);
    assert.equal(password.length, 100);
    const at90 = `${password.slice(0, 89)}${password[89] === 'x' ? 'y' : 'x'}${password.slice(90)}`;
    assert.equal(at90.length, 100);
    assert.notEqual(at90, password);
    const user = await userWithPassword(password);
    assert.equal(await signsIn(user.login, at90), false, 'differs at character 90: refused (no truncation)');
    assert.equal(await signsIn(user.login, password.toUpperCase()), false, 'no case folding');
    assert.equal(await signsIn(user.login, ` ${password}`), false, 'no trimming');
    assert.equal(await signsIn(user.login, password), true);
  });

  it('NIST SP 800-63B rev4 §3.1.1.2 length counts Unicode code points after NFC, and canonically equivalent passwords match', async () => {
    // 14 astral characters are 28 UTF-16 units: still too short. 15 are long enough.
    const astral = [...'🦊🐙🦉🐝🦀🐢🦋🐬🦒🐧🦔🐌🦜🐳🦘'];
    const p14 = astral.slice(0, 14).join('');
    const p15 = astral.join('');
    assert.equal(p14.length, 28);
    const r14 = policy.check(p14, { login: 'someone' });
    assert.ok(!r14.ok && r14.failed.includes('too_short'), '14 code points are too short whatever their UTF-16 length');
    const r15 = policy.check(p15, { login: 'someone' });
    assert.ok(r15.ok || !r15.failed.includes('too_short'), '15 code points are long enough');
    // 14 decomposed "é" are 28 code points as typed, 14 after NFC: too short.
    const nfd = 'e\u0301'.repeat(14);
    const rNfd = policy.check(nfd, { login: 'someone' });
    assert.ok(!rNfd.ok && rNfd.failed.includes('too_short'), 'normalised before counting');
    // Set in composed form, typed in decomposed form (another keyboard): the same password.
    const composed = 'crème brûlée façade naïve 42 ĳsvogel';
    const user = await userWithPassword(composed);
    assert.notEqual(composed.normalize('NFD'), composed);
    assert.equal(await signsIn(user.login, composed.normalize('NFD')), true);
  });

  it('V6.2.5 no composition rules: lower-case-only, digit-free and symbol-free passphrases are accepted', () => {
    for (const p of ['violet tractor lantern oboe meadow', 'ĳsvogel zeppelin fjord kraanvogel', 'кошка любит тёплый подоконник']) {
      const r = policy.check(p, { login: 'someone' });
      assert.equal(r.ok, true, `${p}: ${r.ok ? '' : r.failed.join(', ')}`);
    }
  });

  it('V6.2.4 the 3000 most common passwords that meet the length rule are refused (blocklist, whatever the strength setting)', async () => {
    // Ranked by frequency (zxcvbn's list from breach corpora); the floor an admin may set is 8.
    const ranked = (zxcvbnCommon.dictionary['passwords-common'] as string[]).filter((p) => [...p].length >= 8).slice(0, 3000);
    assert.equal(ranked.length, 3000);
    const lenient = await createPasswordPolicy({ ...DEFAULTS, min_length: 8, min_strength: 0 });
    // Every 10th rank and the 3000th (each check runs zxcvbn too; the whole list would take seconds).
    const sample = ranked.filter((_, i) => i % 10 === 9 || i === 2999);
    const through = sample.filter((p) => { const r = lenient.check(p, { login: 'someone' }); return r.ok || !r.failed.includes('banned'); });
    assert.deepEqual(through.slice(0, 10), [], `${through.length} of ${sample.length} sampled from the top 3000 are not on the blocklist`);
    // And at the default length, padded variants of listed words too.
    const r = policy.check('Password2024!!!!', { login: 'someone' });
    assert.ok(!r.ok && r.failed.includes('banned'));
  });

  it('V6.2.11 context-specific words are refused: the product name, the login name and the email address', async () => {
    const lenient = await createPasswordPolicy({ ...DEFAULTS, min_strength: 0 });
    const ctx = { login: 'henrietta', email: 'h.vandervelde@example.org' };
    const refused = (p: string, rule: string) => {
      const r = lenient.check(p, ctx);
      assert.ok(!r.ok && (r.failed as string[]).includes(rule), `${p} refused as ${rule}`);
    };
    refused('my oidc-sspr password rocks', 'banned');
    refused('walrus SSPR ferry lighthouse', 'banned');
    refused('Henrietta loves lantern oboes', 'contains_login');
    refused('h.vandervelde lantern oboes', 'contains_login');
    assert.equal(lenient.check('walrus ferry lighthouse oboe', ctx).ok, true, 'the same password without them passes');
  });

  it('V6.2.12 passwords on the configured breached-password list (banned_passwords_file) are refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-banned-'));
    const file = join(dir, 'breached.txt');
    writeFileSync(file, 'purple monkey dishwasher 2019\nCorrect Walrus Ferry Oboe\n');
    const withList = await createPasswordPolicy({ ...DEFAULTS, banned_passwords_file: file });
    for (const p of ['purple monkey dishwasher 2019', 'correct walrus ferry oboe']) {
      const r = withList.check(p, { login: 'someone' });
      assert.ok(!r.ok && r.failed.includes('banned'), p);
      assert.equal(policy.check(p, { login: 'someone' }).ok, true, `${p} passes without the list`);
    }
  });

  it('V6.2.6 password fields are masked (type=password) on the sign-in and new-password pages', async () => {
    const b = new Browser();
    const { page } = await (await relyingParty(srv.issuer)).start(b);
    const pages = [page, await newPasswordPage()];
    let seen = 0;
    for (const p of pages) {
      for (const tag of inputs(p.html).filter((i) => /password/.test(attr(i, 'autocomplete') ?? '') || /password/.test(attr(i, 'name') ?? ''))) {
        assert.equal(attr(tag, 'type'), 'password', tag);
        seen++;
      }
    }
    assert.equal(seen, 3, 'current password + new password twice');
  });

  it('V6.2.7 paste and password managers are allowed: autocomplete tokens, no autocomplete=off, no paste handler, no script', async () => {
    const b = new Browser();
    const { page } = await (await relyingParty(srv.issuer)).start(b);
    for (const p of [page, await newPasswordPage()]) {
      assert.doesNotMatch(p.html, /autocomplete="off"/i);
      assert.doesNotMatch(p.html, /\son(paste|copy|cut|drop|keydown|keypress|input)\s*=/i);
      assert.doesNotMatch(p.html, /<script/i, 'no script could block paste');
      for (const tag of inputs(p.html).filter((i) => attr(i, 'type') === 'password')) {
        assert.match(attr(tag, 'autocomplete') ?? '', /^(current|new)-password$/, tag);
      }
    }
  });

  it('V6.2.10 passwords never expire: a password set 400 days ago still signs in', async () => {
    const user = await userWithPassword('seven herons fold paper boats 61');
    clock.advance('400d');
    assert.equal(await signsIn(user.login, 'seven herons fold paper boats 61'), true);
  });

  /** A browser signed in through a real authorization request (it holds the provider's session). */
  async function signedInBrowser(login: string, password: string): Promise<Browser> {
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const landed = await consentIfAsked(b, await signIn(b, (await rp.start(b)).page, login, password));
    assert.ok(landed.redirectedTo?.startsWith(rp.redirectUri));
    return b;
  }

  it('V6.2.2 signed-in users can change their password on /account/security', async () => {
    const user = await userWithPassword('quiet orchard lamp 4417');
    const b = await signedInBrowser(user.login, 'quiet orchard lamp 4417');
    const form = await b.get(`${srv.issuer}/account/security/password`);
    assert.equal(form.status, 200);
    const done = await b.submit(form, { current_password: 'quiet orchard lamp 4417', new_password: 'copper violin tide 8820', confirm_password: 'copper violin tide 8820' });
    assert.equal(done.status, 200);
    assert.equal(await signsIn(user.login, 'copper violin tide 8820'), true);
    assert.equal(await signsIn(user.login, 'quiet orchard lamp 4417'), false);
  });

  it('V6.2.3 changing the password needs the current one and a new one that passes the policy', async () => {
    const user = await userWithPassword('brisk meadow kettle 3391');
    const b = await signedInBrowser(user.login, 'brisk meadow kettle 3391');
    const form = await b.get(`${srv.issuer}/account/security/password`);
    const wrong = await b.submit(form, { current_password: 'not the current one', new_password: 'copper violin tide 8821', confirm_password: 'copper violin tide 8821' });
    assert.equal(wrong.status, 400);
    const weak = await b.submit(wrong, { current_password: 'brisk meadow kettle 3391', new_password: 'password1', confirm_password: 'password1' });
    assert.equal(weak.status, 400);
    assert.equal(await signsIn(user.login, 'brisk meadow kettle 3391'), true, 'nothing changed');
  });
});
