/**
 * Passkeys as a reset proof and a sign-in (issue 20), attacked with answers built in Node by a
 * software authenticator (test/support/webauthn.ts): the cases no real browser produces — another
 * origin or rpId, no user verification, an older sign count, a challenge of another flow or used
 * before. Each protection was removed once and its test seen failing (docs/security.md).
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { isoBase64URL } from '@simplewebauthn/server/helpers';
import { Browser, findForm, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { relyingParty, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { SoftAuthenticator, userHandleOf, type SoftCredential } from '../support/webauthn.ts';
import { createPasskeyRepository } from '../../src/store/passkey-repository.ts';
import type { PasskeyMethod } from '../../src/sspr/methods/passkey.ts';

interface Step { page: Page; csrf: string; action: string }

describe('security: passkeys', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let srv: TestServer;
  let rp: RelyingParty;
  let n = 0;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'all', methods: ['email', 'passkey'], methods_required: 1 } } });
    rp = await relyingParty(srv.issuer);
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  /** A user with one passkey (registered earlier) on a fresh software authenticator. */
  async function userWithPasskey(): Promise<{ user: SeededUser; auth: SoftAuthenticator; cred: SoftCredential }> {
    const user = await seedUser(srv.app, { login: `pk-${++n}` });
    const auth = new SoftAuthenticator(srv.issuer);
    const cred = auth.adopt(userHandleOf(user.id));
    await createPasskeyRepository(srv.app.store).insert({
      id: randomUUID(), accountId: user.id, credentialId: cred.id, publicKey: isoBase64URL.fromBuffer(new Uint8Array(cred.cose)), signCount: 0,
      transports: ['internal'], aaguid: null, name: 'Laptop', createdAt: new Date(), lastUsedAt: null,
    });
    return { user, auth, cred };
  }

  /** /reset up to the passkey step. */
  async function passkeyStep(b: Browser, login: string): Promise<Step> {
    const start = await b.get(`${srv.issuer}/reset`);
    const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: login });
    assert.match(method.html, /<input type="radio" id="method-passkey" name="method" value="passkey"/);
    const page = await b.submit(method, { method: 'passkey' });
    assert.match(new URL(page.url).pathname, /\/reset\/code$/);
    const form = findForm(page.html, '/passkey');
    return { page, csrf: form.hidden.csrf!, action: new URL(form.action, page.url).toString() };
  }

  async function optionsOf(b: Browser, step: Step): Promise<Record<string, unknown>> {
    const r = await b.request(`${step.action}/options`, { body: new URLSearchParams({ csrf: step.csrf }).toString() });
    assert.equal(r.status, 200, r.html);
    assert.match(r.headers.get('cache-control') ?? '', /no-store/);
    return JSON.parse(r.html) as Record<string, unknown>;
  }

  async function answer(b: Browser, step: Step, response: Record<string, unknown>): Promise<Page> {
    return b.follow(step.action, { body: new URLSearchParams({ csrf: step.csrf, response: JSON.stringify(response) }).toString() });
  }

  const proven = (p: Page) => new URL(p.url).pathname.endsWith('/reset/password');
  const refused = (p: Page) => new URL(p.url).pathname.endsWith('/reset/code') && messageIds(p.html).includes('passkey:errors.failed');

  async function refusals(accountId: string): Promise<string[]> {
    return (await srv.app.audit.query({ targetAccountId: accountId })).filter((e) => e.activity === 'sspr.passkey.refused').map((e) => e.reason ?? '');
  }

  it('a passkey of the account proves the reset; the options name no credential (the page reveals nothing)', async () => {
    const { user, auth } = await userWithPasskey();
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    assert.match(step.page.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    const options = await optionsOf(b, step);
    assert.deepEqual(options.allowCredentials, []);
    assert.equal(options.userVerification, 'required');
    assert.equal(options.rpId, new URL(srv.issuer).hostname);
    assert.ok(proven(await answer(b, step, auth.get(options))));
    const events = (await srv.app.audit.query({ targetAccountId: user.id })).map((e) => e.activity);
    assert.ok(events.includes('sspr.passkey.used') && events.includes('sspr.reset.method_verified'), events.join(','));
  });

  it('challenge single use: an answer to a challenge already answered once is refused, even a right one', async () => {
    const { user, auth } = await userWithPasskey();
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    const options = await optionsOf(b, step);
    assert.ok(refused(await answer(b, step, auth.get(options, { uv: false }))), 'first answer refused (no user verification)');
    assert.ok(refused(await answer(b, step, auth.get(options))), 'the same challenge answered again');
    assert.ok(proven(await answer(b, step, auth.get(await optionsOf(b, step)))), 'a fresh challenge works');
  });

  it('challenge bound to the flow: a challenge of another reset, or of a sign-in, is refused', async () => {
    const { user, auth } = await userWithPasskey();
    const other = new Browser();
    const otherOptions = await optionsOf(other, await passkeyStep(other, user.login));
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    assert.ok(refused(await answer(b, step, auth.get(otherOptions))), 'another flow\'s challenge');

    const signIn = new Browser();
    const { page } = await rp.start(signIn);
    const form = findForm(page.html, '/login');
    const uid = new URL(form.action, page.url).pathname.split('/')[2]!;
    const r = await signIn.request(`${srv.issuer}/interaction/${uid}/passkey/options`, { body: new URLSearchParams({ csrf: form.hidden.csrf! }).toString() });
    const signInOptions = JSON.parse(r.html) as Record<string, unknown>;
    assert.ok(refused(await answer(b, step, auth.get(signInOptions))), 'a sign-in\'s challenge');
    assert.ok(proven(await answer(b, step, auth.get(await optionsOf(b, step)))));
  });

  it('origin and rpId checked: an answer made for another site is refused', async () => {
    const { user, auth } = await userWithPasskey();
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    assert.ok(refused(await answer(b, step, auth.get(await optionsOf(b, step), { origin: 'https://evil.example' }))), 'origin');
    assert.ok(refused(await answer(b, step, auth.get(await optionsOf(b, step), { rpId: 'evil.example' }))), 'rpId');
    assert.deepEqual(await refusals(user.id), ['assertion_invalid', 'assertion_invalid']);
  });

  it('user verification required: an answer without it is refused, at reset and at registration', async () => {
    const { user, auth } = await userWithPasskey();
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    assert.ok(refused(await answer(b, step, auth.get(await optionsOf(b, step), { uv: false }))));
    assert.deepEqual(await refusals(user.id), ['assertion_invalid']);

    // Registration: the method itself, with a challenge issued for this account's flow.
    const passkey = srv.app.extension.deps.methods.get('passkey') as PasskeyMethod;
    const binding = `test-${randomUUID()}`;
    const regOptions = await passkey.registrationOptions({ binding, accountId: user.id, login: user.login, displayName: null });
    assert.equal((regOptions.authenticatorSelection as { userVerification: string }).userVerification, 'required');
    await assert.rejects(passkey.register({ binding, accountId: user.id, response: JSON.stringify(new SoftAuthenticator(srv.issuer).create(regOptions, { uv: false })), name: 'x' }), /code/i);
    const again = await passkey.registrationOptions({ binding, accountId: user.id, login: user.login, displayName: null });
    const created = await passkey.register({ binding, accountId: user.id, response: JSON.stringify(new SoftAuthenticator(srv.issuer).create(again)), name: 'Phone' });
    assert.equal(created.name, 'Phone');
  });

  it('sign-count regression refused and audited: a clone reporting an older count', async () => {
    const { user, auth, cred } = await userWithPasskey();
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    assert.ok(proven(await answer(b, step, auth.get(await optionsOf(b, step), { signCount: 7 }))));
    const b2 = new Browser();
    const step2 = await passkeyStep(b2, user.login);
    assert.ok(refused(await answer(b2, step2, auth.get(await optionsOf(b2, step2), { signCount: 7 }, cred))), 'the same count again');
    assert.ok(refused(await answer(b2, step2, auth.get(await optionsOf(b2, step2), { signCount: 3 }, cred))), 'an older count');
    assert.deepEqual(await refusals(user.id), ['sign_count_regression', 'sign_count_regression']);
    assert.ok(proven(await answer(b2, step2, auth.get(await optionsOf(b2, step2), { signCount: 8 }, cred))));
  });

  it('a passkey of another account, or one this account never registered, is refused', async () => {
    const { user } = await userWithPasskey();
    const { auth: theirs } = await userWithPasskey();
    const stranger = new SoftAuthenticator(srv.issuer);
    stranger.adopt(userHandleOf(user.id)); // claims the account, but was never registered
    const b = new Browser();
    const step = await passkeyStep(b, user.login);
    assert.ok(refused(await answer(b, step, theirs.get(await optionsOf(b, step)))), 'another account\'s passkey');
    assert.ok(refused(await answer(b, step, theirs.get(await optionsOf(b, step), { userHandle: userHandleOf(user.id) }))), 'another account\'s passkey with this handle');
    assert.ok(refused(await answer(b, step, stranger.get(await optionsOf(b, step)))), 'an unregistered authenticator');
    assert.deepEqual(await refusals(user.id), ['not_this_accounts_passkey', 'not_this_accounts_passkey', 'not_this_accounts_passkey']);
  });

  it('an unknown id choosing "Use a passkey" gets the same pages, a challenge and the same refusal', async () => {
    const { user, auth } = await userWithPasskey();
    const known = new Browser();
    const knownStep = await passkeyStep(known, user.login);
    const unknown = new Browser();
    const step = await passkeyStep(unknown, `nobody-${randomUUID()}`);
    const strip = (html: string) => html.replace(/value="[^"]*"/g, '');
    assert.equal(strip(step.page.html), strip(knownStep.page.html));
    const options = await optionsOf(unknown, step);
    assert.deepEqual(Object.keys(options).sort(), Object.keys(await optionsOf(known, knownStep)).sort());
    assert.ok(refused(await answer(unknown, step, auth.get(options))));
  });
});
