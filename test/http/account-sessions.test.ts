import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser, messageIds } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

/**
 * /account/security lists where the user is signed in and signs them out everywhere else: the
 * other sessions end, with the grants and refresh tokens issued under them; this browser's stay.
 */
describe('sessions on /account/security', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let user: SeededUser;
  let rp: RelyingParty;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    user = await seedUser(srv.app, { login: 'olga' });
    rp = await relyingParty(srv.issuer);
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  async function signedIn() {
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, page, user.login, user.password));
    return { browser, tokens: await rp.finish(done.redirectedTo!, verifier, state) };
  }
  const listed = (html: string) => [...html.matchAll(/<ul class="sessions">([\s\S]*?)<\/ul>/g)].flatMap((m) => [...m[1].matchAll(/<li([^>]*)>/g)].map((li) => li[1]));

  it('lists both browsers, marks this one, and signing out elsewhere ends only the other', async () => {
    const laptop = await signedIn();
    const phone = await signedIn();

    const page = await laptop.browser.get(`${srv.issuer}/account/security`);
    assert.equal(page.status, 200);
    const items = listed(page.html);
    assert.equal(items.length, 2, page.html);
    assert.equal(items.filter((attrs) => attrs.includes('data-current="true"')).length, 1);
    assert.match(page.html, /apps: test-app/);

    const after = await laptop.browser.submit(page, {}, { actionPart: 'sessions/end-others' });
    assert.equal(after.status, 200);
    assert.deepEqual(messageIds(after.html), ['registration:sessions_ended']);
    assert.equal(listed(after.html).length, 1, 'only this browser is left');

    // The other browser is signed out, and its app's refresh token is revoked; this one's still works.
    assert.equal((await phone.browser.get(`${srv.issuer}/account/security`)).status, 401);
    await assert.rejects(client.refreshTokenGrant(rp.config, phone.tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    const refreshed = await client.refreshTokenGrant(rp.config, laptop.tokens.refresh_token!);
    assert.ok(refreshed.access_token);
    assert.equal((await laptop.browser.get(`${srv.issuer}/account/security`)).status, 200);

    const events = await srv.app.audit.query({ activity: 'account.sessions_ended' });
    assert.equal(events.length, 1);
    assert.equal(events[0]!.actor, 'olga');
    assert.deepEqual(events[0]!.details, { sessions: 1 });
  });

  it('offers no sign-out-elsewhere button when this is the only session, and speaks Dutch', async () => {
    // No other session, and no app holding access from earlier ones (that would offer the button too).
    await srv.app.store.models.OidcPayload.destroy({ where: { model: ['Session', 'Grant', 'AccessToken', 'RefreshToken'] } });
    const only = await signedIn();
    const page = await only.browser.get(`${srv.issuer}/account/security?lang=nl`);
    assert.equal(page.status, 200);
    assert.match(page.html, /Waar u bent aangemeld/);
    assert.match(page.html, /deze browser/);
    assert.equal(listed(page.html).length, 1);
    assert.doesNotMatch(page.html, /sessions\/end-others/);
  });

  it('refuses the sign-out without the page\'s anti-forgery token, and ends nothing', async () => {
    const laptop = await signedIn();
    await signedIn();
    const before = await srv.app.store.models.OidcPayload.count({ where: { model: 'Session' } });
    const res = await laptop.browser.request(`${srv.issuer}/account/security/sessions/end-others`, { body: 'csrf=forged&flow=x' });
    assert.equal(res.status, 403);
    assert.equal(await srv.app.store.models.OidcPayload.count({ where: { model: 'Session' } }), before);
  });
});
