import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import * as client from 'openid-client';
import { Browser, findForm } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

/**
 * On SQLite the login page's interaction lives in the server's memory (src/provider/sign-in-memory.ts).
 * A restart forgets it: the page's POST then gets the "sign-in expired" page — never a server
 * error, never a sign-in — and the app's next sign-in works at once. What the user did past the login
 * page (registration) is in the database; test/security/crash-safety.test.ts kills the server there.
 */
describe('a sign-in in progress kept in memory (SQLite): restarts and replays', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let srv: TestServer | undefined;

  before(() => { db = createSqliteDatabase(); });
  after(async () => { await srv?.close(); await db.drop(); });

  it('the login POST after the restart says the sign-in expired; a new sign-in from the app works', async () => {
    const port = await freePort();
    srv = await startTestServer({ database: db.url, port, overrides: { sspr: { enabled_for: 'none' } } });
    const user = await seedUser(srv.app, { login: 'restart-user' });
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page } = await rp.start(browser);
    findForm(page.html, '/login');

    await srv.close();
    srv = await startTestServer({ database: db.url, port, overrides: { sspr: { enabled_for: 'none' } } });

    const posted = await signIn(browser, page, user.login, user.password);
    assert.ok(posted.status < 500, `no server error: ${posted.status}`);
    assert.equal(posted.redirectedTo, undefined, 'no way on to the app from a forgotten interaction');
    assert.match(posted.html, /data-error-code="session_expired"/, posted.html.slice(0, 400));

    const again = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, again.page, user.login, user.password));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `signed in after the restart: ${done.status} ${done.url}`);
    assert.ok((await rp.finish(done.redirectedTo!, again.verifier, again.state)).access_token);
  });

  it('a code the app had not exchanged before a restart is refused after it; the app\'s next sign-in goes through on the session', async () => {
    const port = await freePort();
    await srv?.close();
    srv = await startTestServer({ database: db.url, port, overrides: { sspr: { enabled_for: 'none' } } });
    const user = await seedUser(srv.app, { login: 'restart-code-user' });
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, page, user.login, user.password));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri));

    await srv.close();
    srv = await startTestServer({ database: db.url, port, overrides: { sspr: { enabled_for: 'none' } } });

    await assert.rejects(rp.finish(done.redirectedTo!, verifier, state), (err: { error?: string }) => err.error === 'invalid_grant');
    const again = await rp.start(browser);
    const silent = again.page.redirectedTo ?? (await consentIfAsked(browser, again.page)).redirectedTo;
    assert.ok(silent?.startsWith(rp.redirectUri), 'no password asked: the session is in the database');
    assert.ok((await rp.finish(silent!, again.verifier, again.state)).access_token);
  });

  it('a code whose session ended before the exchange (its row deleted, as the admin CLI does) is refused; the grant and the session are read with the code', async () => {
    srv ??= await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    const user = await seedUser(srv.app, { login: 'ended-session-user' });
    const rp = await relyingParty(srv.issuer);
    const exchanges: { ended: boolean; refused: boolean }[] = [];
    for (const ended of [false, true]) {
      const browser = new Browser();
      // Without offline_access: such a code is bound to the session (oidc-provider checks it at the exchange).
      const { page, verifier, state } = await rp.start(browser, { scope: 'openid profile email' });
      const done = await consentIfAsked(browser, await signIn(browser, page, user.login, user.password));
      if (ended) {
        const other = new DatabaseSync(db.url.slice('sqlite:'.length));
        other.exec('PRAGMA busy_timeout = 5000');
        other.prepare("DELETE FROM oidc_payloads WHERE model = 'Session' AND account_id = ?").run(user.id);
        other.close();
      }
      const refused = await rp.finish(done.redirectedTo!, verifier, state).then(() => false, (err: { error?: string }) => err.error === 'invalid_grant');
      exchanges.push({ ended, refused });
    }
    assert.deepEqual(exchanges, [{ ended: false, refused: false }, { ended: true, refused: true }]);
  });

  it('a replayed code is refused, and the tokens of its first exchange stop working', async () => {
    srv ??= await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    const user = await seedUser(srv.app, { login: 'replay-code-user' });
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, page, user.login, user.password));
    const first = await rp.finish(done.redirectedTo!, verifier, state);
    assert.ok((await client.fetchUserInfo(rp.config, first.access_token, user.id)).sub);
    await assert.rejects(rp.finish(done.redirectedTo!, verifier, state), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(rp.config, first.access_token, user.id), 'the first exchange\'s access token is revoked');
  });
});
