import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser, link, messageIds } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

describe('changing the password on /account/security', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let user: SeededUser;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    user = await seedUser(srv.app, { login: 'nora' });
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  it('needs a session, the current password and a policy-conforming new one; then every session and token ends', async () => {
    const anonymous = await new Browser().get(`${srv.issuer}/account/security/password`);
    assert.equal(anonymous.status, 401);

    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, page, 'nora', user.password));
    const tokens = await rp.finish(done.redirectedTo!, verifier, state);

    const form = await browser.get(`${srv.issuer}/account/security/password`);
    assert.equal(form.status, 200);
    assert.match(form.html, /autocomplete="current-password"/);
    assert.equal((form.html.match(/autocomplete="new-password"/g) ?? []).length, 2);

    const wrong = await browser.submit(form, { current_password: 'not my password', new_password: 'amber falcon meadow 5521', confirm_password: 'amber falcon meadow 5521' });
    assert.equal(wrong.status, 400);
    assert.deepEqual(messageIds(wrong.html), ['errors:sspr.password.wrong_current']);

    const weak = await browser.submit(wrong, { current_password: user.password, new_password: 'password', confirm_password: 'password' });
    assert.equal(weak.status, 400);
    assert.ok(messageIds(weak.html).includes('errors:sspr.password.too_short'));

    const ok = await browser.submit(weak, { current_password: user.password, new_password: 'amber falcon meadow 5521', confirm_password: 'amber falcon meadow 5521' });
    assert.equal(ok.status, 200);
    assert.match(ok.html, /<h1>Password changed<\/h1>/);

    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    const after = await browser.get(`${srv.issuer}/account/security/password`);
    assert.equal(after.status, 401, 'the session ended too');
    const events = await srv.app.audit.query({ activity: 'account.password_changed' });
    assert.deepEqual(events.map((e) => e.result), ['failure', 'success']);

    const again = new Browser();
    const retry = await rp.start(again);
    const signedIn = await consentIfAsked(again, await signIn(again, retry.page, 'nora', 'amber falcon meadow 5521'));
    assert.ok(signedIn.redirectedTo?.startsWith(rp.redirectUri));
  });

  it('lets a signed-out visitor sign in from /account/security itself, with a fresh password', async () => {
    const browser = new Browser();
    const out = await browser.get(`${srv.issuer}/account/security`);
    assert.equal(out.status, 401);
    const signInPage = await browser.get(new URL(link(out.html, 'account-sign-in'), srv.issuer).toString());
    assert.match(signInPage.html, /autocomplete="current-password"/);
    const landed = await signIn(browser, signInPage, 'nora', 'amber falcon meadow 5521');
    assert.equal(landed.status, 200, landed.html.slice(0, 300));
    assert.match(landed.url, /\/account\/security$/);
    assert.match(landed.html, /\/account\/security\/password/);
  });
});
