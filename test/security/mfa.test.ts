/**
 * The second factor at sign-in (issue 21): it cannot be skipped — not by posting to a later step, not
 * by resuming a parked interaction, not through the account pages that read the session cookie
 * themselves; its codes work once; guesses are counted before they are checked, also under
 * concurrent posts; and a reset of an account that signs in with two factors needs two methods.
 * Real server, SQLite, real SMTP server. Each protection was removed once to see its test fail
 * (docs/security.md "Second factor at sign-in").
 */
import assert from 'node:assert/strict';
import { Browser, findForm, inputByAutocomplete, messageIds } from '../support/browser.ts';
import { seedUser } from '../support/users.ts';
import { typedMethods } from '../support/methods.ts';
import {
  addMethod, assertSecondStep, chooseFactor, mailedCode, passwordStep, startMfaEnv, tokensFrom, totpNow, typeCode, type MfaEnv,
} from '../support/mfa.ts';
import { ACR_MFA } from '../../src/sspr/mfa-policy.ts';
import { randomUUID } from 'node:crypto';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { createPasskeyRepository } from '../../src/store/passkey-repository.ts';
import { SoftAuthenticator, userHandleOf } from '../support/webauthn.ts';

describe('security: the second factor at sign-in', function () {
  let env: MfaEnv;
  before(async () => {
    env = await startMfaEnv('sqlite', {
      mfa: { required_for: 'all' },
      sspr: { enabled_for: 'all', methods: ['email', 'totp', 'recovery_codes'], methods_required: 1, throttle: { failed_verifications: { max: 3, window_hours: 24, block_hours: 24 } } },
    });
  });
  after(() => env?.close());

  /** A user with an authenticator app and an email method (two types: the MFA account's reset minimum). */
  async function mfaUser(login: string) {
    const user = await seedUser(env.app, { login });
    const secret = (await addMethod(env.app, user.id, 'totp'))!;
    await addMethod(env.app, user.id, 'email', `${login}@example.org`);
    return { user, secret };
  }

  it('cannot be skipped by posting to later steps: consent, registration and the account pages refuse a password-only session', async () => {
    const { user } = await mfaUser('mallory1');
    const browser = new Browser();
    const { landed } = await passwordStep(env, browser, user);
    assertSecondStep(landed);
    const uid = /\/interaction\/([^/]+)\/mfa/.exec(landed.url)![1];
    const csrf = findForm(landed.html).hidden.csrf;
    const consent = await browser.request(`${env.srv.issuer}/interaction/${uid}/confirm`, { body: `csrf=${encodeURIComponent(csrf)}` });
    assert.equal(consent.status, 400, 'consent is not the prompt');
    const finish = await browser.request(`${env.srv.issuer}/interaction/${uid}/register/finish`, { body: `csrf=${encodeURIComponent(csrf)}` });
    assert.equal(finish.status, 400, 'registration is not the prompt');
    // The session already names the account: the pages that read it themselves must not take it.
    const account = await browser.request(`${env.srv.issuer}/account/security`);
    assert.equal(account.status, 401, 'a session stopped at the second step is not signed in');
    assert.doesNotMatch(account.html, /\/account\/security\/remove/);
  });

  it('cannot be skipped by resuming a parked interaction: the resume meets the same check', async () => {
    const { user } = await mfaUser('mallory2');
    const browser = new Browser();
    // A second authorization request parked at the sign-in page before the password was typed.
    const parked = await env.rp.start(browser);
    const parkedUid = /\/interaction\/([^/?]+)/.exec(parked.page.url)![1];
    const { landed } = await passwordStep(env, browser, user);
    assertSecondStep(landed);
    const uid = /\/interaction\/([^/]+)\/mfa/.exec(landed.url)![1];
    for (const resume of [uid, parkedUid]) {
      const page = await browser.follow(`${env.srv.issuer}/auth/${resume}`);
      assert.equal(page.redirectedTo, undefined, `resume ${resume} reached the client: ${page.redirectedTo}`);
      assert.ok(page.status === 200 || page.status === 400, `resume ${resume}: ${page.status} ${page.url}`);
      if (page.status === 200) assertSecondStep(page);
    }
    // And prompt=none is answered "interaction required", never a code.
    const silent = await env.rp.start(browser, { prompt: 'none' });
    assert.match(silent.page.redirectedTo ?? '', /error=interaction_required/);
  });

  it('codes are single use: an authenticator code, an email code and a recovery code each work once', async () => {
    const { user, secret } = await mfaUser('mallory3');
    const enrolled = await typedMethods(env.app.sspr.methods).recoveryCodes.enrol('x');
    const codes = enrolled.view.data.codes as string[];
    const confirmed = await typedMethods(env.app.sspr.methods).recoveryCodes.confirm(enrolled.pending, codes[0]);
    await env.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'recovery_codes', secretEnc: confirmed.secretEnc });

    // TOTP: the step used once is refused again, in another browser's sign-in.
    const code = await totpNow(env, secret);
    const a = new Browser();
    const first = await passwordStep(env, a, user);
    const claims = await tokensFrom(env, a, await typeCode(a, await chooseFactor(a, first.landed, 'totp'), code), first.verifier, first.state);
    assert.equal(claims.acr, ACR_MFA);
    const b = new Browser();
    const second = await passwordStep(env, b, user);
    const replay = await typeCode(b, await chooseFactor(b, second.landed, 'totp'), code);
    assert.deepEqual(messageIds(replay.html), ['mfa:errors.code_invalid']);

    // Recovery code: used once, then refused.
    const choosePage = await b.get(replay.url.replace(/\/totp$/, ''));
    const rc = await typeCode(b, await chooseFactor(b, choosePage, 'recovery_codes'), codes[1]);
    await tokensFrom(env, b, rc, second.verifier, second.state);
    const c = new Browser();
    const third = await passwordStep(env, c, user);
    const reused = await typeCode(c, await chooseFactor(c, third.landed, 'recovery_codes'), codes[1]);
    assert.deepEqual(messageIds(reused.html), ['mfa:errors.code_invalid']);

    // Email: the code of a finished sign-in opens no other.
    const before = env.smtp.received.filter((m) => m.to.includes('mallory3@example.org')).length;
    const d = new Browser();
    const fourth = await passwordStep(env, d, user);
    const emailPage = await chooseFactor(d, fourth.landed, 'email');
    const mailed = await mailedCode(env, 'mallory3@example.org', before);
    await tokensFrom(env, d, await typeCode(d, emailPage, mailed), fourth.verifier, fourth.state);
    const e = new Browser();
    const fifth = await passwordStep(env, e, user);
    const otherEmailPage = await chooseFactor(e, fifth.landed, 'email');
    const old = await typeCode(e, otherEmailPage, mailed);
    assert.deepEqual(messageIds(old.html), ['mfa:errors.code_invalid']);
  });

  it('guesses are counted before they are checked: twelve concurrent wrong codes, three checked, then even the right code waits', async () => {
    const { user, secret } = await mfaUser('mallory4');
    const browser = new Browser();
    const { landed } = await passwordStep(env, browser, user);
    const codePage = await chooseFactor(browser, landed, 'totp');
    const form = findForm(codePage.html);
    const field = inputByAutocomplete(codePage.html, 'one-time-code');
    const right = await totpNow(env, secret);
    const wrongCode = right === '000000' ? '111111' : '000000';
    const action = new URL(form.action, env.srv.issuer).toString();
    const body = new URLSearchParams({ ...form.hidden, [field]: wrongCode }).toString();
    await Promise.all(Array.from({ length: 12 }, () => browser.request(action, { body })));
    const events = await env.app.audit.query({ targetAccountId: user.id });
    const failed = events.filter((e) => e.activity === 'auth.mfa.failed').length;
    const blocked = events.filter((e) => e.activity === 'auth.mfa.blocked').length;
    assert.equal(failed, 3, `three guesses checked (limit 3), got ${failed}`);
    assert.equal(blocked, 1, 'one block, audited once');
    const refused = await browser.follow(action, { body: new URLSearchParams({ ...form.hidden, [field]: right }).toString() });
    assert.equal(refused.status, 429);
    assert.deepEqual(messageIds(refused.html), ['mfa:errors.blocked_until']);
    assert.ok(Number(refused.headers.get('retry-after')) > 0);
    assert.equal(refused.redirectedTo, undefined);
  });

  it('a reset of an account that signs in with two factors needs two methods of different types', async () => {
    const { user, secret } = await mfaUser('mallory5');
    const browser = new Browser();
    const start = await browser.follow(`${env.srv.issuer}/reset`);
    const methodPage = await browser.submit(start, { [inputByAutocomplete(start.html, 'username')]: user.login });
    const codePage = await browser.submit(methodPage, { method: 'totp' });
    const next = await browser.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: await totpNow(env, secret) });
    assert.equal(next.status, 200);
    assert.doesNotMatch(next.html, /autocomplete="new-password"/, 'one method is not enough for this account');
    assert.match(next.html, /name="method"/, 'a second method is asked');
  });
});

describe('security: a passkey at sign-in with MFA', function () {
  let env: MfaEnv;
  before(async () => { env = await startMfaEnv('sqlite', { mfa: { required_for: 'all' }, sspr: { enabled_for: 'all', methods: ['email', 'passkey'] } }); });
  after(() => env?.close());

  it('a passkey serves as the second factor, its challenge bound to this step; a passwordless passkey sign-in is the MFA level alone', async () => {
    const user = await seedUser(env.app, { login: 'pkmfa' });
    await addMethod(env.app, user.id, 'email', 'pkmfa@example.org');
    const auth = new SoftAuthenticator(env.srv.issuer);
    const cred = auth.adopt(userHandleOf(user.id));
    await createPasskeyRepository(env.app.store).insert({
      id: randomUUID(), accountId: user.id, credentialId: cred.id, publicKey: isoBase64URL.fromBuffer(new Uint8Array(cred.cose)), signCount: 0,
      transports: ['internal'], aaguid: null, name: 'Laptop', createdAt: new Date(), lastUsedAt: null,
    });
    const b = new Browser();
    const first = await env.rp.start(b);
    const { verifier, state } = first;
    const landed = await b.submit(first.page, { login: user.login, password: user.password }, { actionPart: '/login' });
    assertSecondStep(landed);
    const page = await chooseFactor(b, landed, 'passkey');
    assertSecondStep(page, '/passkey');
    assert.match(page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const form = findForm(page.html, '/mfa/passkey');
    const action = new URL(form.action, page.url).toString();
    const options = JSON.parse((await b.request(`${action}/options`, { body: new URLSearchParams({ csrf: form.hidden.csrf! }).toString() })).html) as Record<string, unknown>;
    // An answer to a challenge of the sign-in page (another binding) proves nothing here.
    const uid = /\/interaction\/([^/]+)\//.exec(page.url)![1];
    const elsewhere = await b.request(`${env.srv.issuer}/interaction/${uid}/passkey/options`, { body: new URLSearchParams({ csrf: form.hidden.csrf! }).toString() });
    assert.equal(elsewhere.status, 400, 'the sign-in page\'s passkey endpoint is not this prompt');
    const claims = await tokensFrom(env, b, await b.follow(action, { body: new URLSearchParams({ csrf: form.hidden.csrf!, response: JSON.stringify(auth.get(options)) }).toString() }), verifier, state);
    assert.deepEqual(claims.amr, ['pwd', 'hwk', 'user', 'mfa']);
    assert.equal(claims.acr, ACR_MFA);

    // Passwordless: the passkey on the sign-in page is both factors; no second step follows.
    const p = new Browser();
    const start = await env.rp.start(p);
    const signInForm = findForm(start.page.html, '/passkey');
    const signInAction = new URL(signInForm.action, start.page.url).toString();
    const signInOptions = JSON.parse((await p.request(`${signInAction}/options`, { body: new URLSearchParams({ csrf: signInForm.hidden.csrf! }).toString() })).html) as Record<string, unknown>;
    const after = await p.follow(signInAction, { body: new URLSearchParams({ csrf: signInForm.hidden.csrf!, response: JSON.stringify(auth.get(signInOptions)) }).toString() });
    assert.doesNotMatch(after.url, /\/mfa/, 'no second step after a passkey with user verification');
    const passwordless = await tokensFrom(env, p, after, start.verifier, start.state);
    assert.deepEqual(passwordless.amr, ['hwk', 'user']);
    assert.equal(passwordless.acr, ACR_MFA);
  });
});
