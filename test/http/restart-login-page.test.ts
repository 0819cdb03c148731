import assert from 'node:assert/strict';
import { Browser, findForm } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

/**
 * On SQLite the login page's interaction lives in the server's memory (src/provider/interaction-memory.ts).
 * A restart forgets it: the page's POST then gets the "sign-in expired" page — never a server
 * error, never a sign-in — and the app's next sign-in works at once. What the user did past the login
 * page (registration) is in the database; test/security/crash-safety.test.ts kills the server there.
 */
describe('a restart while a sign-in is on the login page (SQLite)', function () {
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
});
