import assert from 'node:assert/strict';
import { Browser } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

describe('password sign-in protections', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let user: SeededUser;
  const clock = new TestClock();

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: { sspr: { enabled_for: 'none', throttle: { sign_in_failures: { delay_after: 100, block_after: 5, block_minutes: 15 } } } },
    });
    user = await seedUser(srv.app, { login: 'erin' });
    await seedUser(srv.app, { login: 'frank' });
    await srv.app.store.models.Account.update({ disabled: true }, { where: { login: 'frank' } });
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  async function attempt(login: string, password: string) {
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    return signIn(browser, (await rp.start(browser)).page, login, password);
  }

  it('refuses a disabled account with the same answer as a wrong password', async () => {
    const page = await attempt('frank', 'correct horse battery staple 42');
    assert.equal(page.status, 401);
    assert.match(page.html, /data-message-id="errors:invalid_credentials"/);
  });

  it('blocks an identifier briefly after block_after failures (long before 100), then lets the user in', async () => {
    for (let i = 0; i < 5; i++) assert.equal((await attempt('erin', `wrong guess ${i}`)).status, 401);
    const sixth = await attempt('erin', `wrong guess 6`);
    assert.equal(sixth.status, 429, 'counted before the check: the guess over the limit is refused, not checked');
    const blocked = await attempt('erin', user.password);
    assert.equal(blocked.status, 429, 'even the right password waits while blocked');
    assert.match(blocked.html, /data-message-id="errors:sign_in_blocked_until"/);
    const events = await srv.app.audit.query({ activity: 'auth.sign_in.blocked' });
    assert.equal(events.length, 1);

    clock.advance('16m');
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page } = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, page, 'erin', user.password));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), 'signed in after the block ended');
  });

  it('counts unknown identifiers exactly like known ones', async () => {
    for (let i = 0; i < 6; i++) await attempt('ghost-user', `guess ${i}`);
    const blocked = await attempt('ghost-user', 'guess 7');
    assert.equal(blocked.status, 429);
  });
});
