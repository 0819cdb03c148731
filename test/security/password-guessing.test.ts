/**
 * Issue 16, "sign-in guessing is not capped under concurrency": attacks on the password budget,
 * driven over HTTP against a real server as an attacker would. NIST SP 800-63B rev4 §3.2.2 (rate
 * limiting: far fewer than 100 consecutive failures), ASVS 5.0 V6.3.1.
 */
import assert from 'node:assert/strict';
import { Browser, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

const BLOCK_AFTER = 5;

describe('issue 16: the password budget counts first, per account, and escalates', function () {
  let db: TestDatabase;
  let srv: TestServer;
  const clock = new TestClock();
  /** Password checks the directory actually ran (argon2 verifications), by account id. */
  const checks = new Map<string, number>();

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: { sspr: { enabled_for: 'none', throttle: { sign_in_failures: { delay_after: 100, block_after: BLOCK_AFTER, block_minutes: 15 } } } },
    });
    const directory = srv.app.sspr.directory;
    const verify = directory.verifyPassword.bind(directory);
    directory.verifyPassword = async (id, password) => {
      checks.set(id, (checks.get(id) ?? 0) + 1);
      return verify(id, password);
    };
  });
  after(async () => { await srv?.close(); await db?.drop(); });
  beforeEach(() => clock.advance('2d'));

  /** A sign-in page of a fresh authorization request, in its own browser. */
  async function signInPage(): Promise<{ browser: Browser; page: Page }> {
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    return { browser, page: (await rp.start(browser)).page };
  }

  /** One sign-in attempt: 'ok', or the status of the page that answered. */
  async function attempt(login: string, password: string): Promise<'ok' | number> {
    const { browser, page } = await signInPage();
    const landed = await consentIfAsked(browser, await signIn(browser, page, login, password));
    return landed.redirectedTo ? 'ok' : landed.status;
  }

  it('30 concurrent wrong passwords for one account: at most block_after are checked, the rest refused unchecked', async () => {
    const user = await seedUser(srv.app, { login: 'raced' });
    // Every attacker request is at the password form before the first one is sent, then all at once.
    const pages = await Promise.all(Array.from({ length: 30 }, () => signInPage()));
    const answers = await Promise.all(pages.map(({ browser, page }, i) => signIn(browser, page, user.login, `wrong guess ${i}`)));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((s) => s === 401).length, BLOCK_AFTER, `401s: ${statuses.join(' ')}`);
    assert.equal(statuses.filter((s) => s === 429).length, 30 - BLOCK_AFTER);
    assert.ok((checks.get(user.id) ?? 0) <= BLOCK_AFTER, `${checks.get(user.id)} passwords checked`);
    // And while the block lasts, not even the right password is checked.
    const before = checks.get(user.id);
    assert.equal(await attempt(user.login, user.password), 429);
    assert.equal(checks.get(user.id), before);
  });

  it('the login and the email address share one budget: guesses under both spellings add up', async () => {
    const user = await seedUser(srv.app, { login: 'spelled', email: 'Spelled.Person@example.org' });
    for (let i = 0; i < BLOCK_AFTER; i++) {
      const spelling = i % 2 ? user.login : 'spelled.person@EXAMPLE.org';
      assert.equal(await attempt(spelling, `wrong ${i}`), 401, `guess ${i + 1} as ${spelling}`);
    }
    assert.equal(await attempt(user.login, user.password), 429, 'the login spelling is blocked too');
    assert.equal(await attempt(user.email!, user.password), 429, 'and the email one');
    clock.advance('16m');
    assert.equal(await attempt(user.email!, user.password), 'ok');
  });

  it('each further block is twice as long with one guess between: far fewer than 100 consecutive failures in a year', async () => {
    const user = await seedUser(srv.app, { login: 'patient' });
    const startedAt = clock.now().getTime();
    let guesses = 0;
    const lengths: number[] = [];
    // The attacker comes back the moment each block ends, for a year.
    while (clock.now().getTime() - startedAt < 365 * 86_400_000) {
      let answer = await attempt(user.login, `guess ${guesses}`);
      while (answer === 401) {
        guesses++;
        answer = await attempt(user.login, `guess ${guesses}`);
      }
      assert.equal(answer, 429);
      const until = await srv.app.store.models.Throttle.findOne({ where: { key: `signin/acct:${user.id}` } });
      const wait = until!.blockedUntil!.getTime() - clock.now().getTime();
      lengths.push(wait);
      clock.advance(wait);
    }
    assert.deepEqual(lengths.slice(0, 4).map((ms) => ms / 60_000), [15, 30, 60, 120], 'block minutes');
    assert.ok(guesses < 100 / 2, `${guesses} wrong passwords checked in a year`);
    // The owner still gets in after the block, and that success ends the run of failures.
    assert.equal(await attempt(user.login, user.password), 'ok');
    assert.equal(await srv.app.store.models.Throttle.count({ where: { key: `signin/acct:${user.id}` } }), 0);
  });

  it('reloading the sign-in page after a wrong password shows it again and counts no second guess', async () => {
    const user = await seedUser(srv.app, { login: 'reloader' });
    const { browser, page } = await signInPage();
    const wrong = await signIn(browser, page, user.login, 'not the password');
    assert.equal(wrong.status, 401);
    // A reload repeats the request that produced the page on screen: here the GET after the redirect.
    assert.match(browser.history.at(-1)!, /^GET \/interaction\/[\w-]+ 401$/, browser.history.slice(-2).join(', '));
    for (let i = 0; i < BLOCK_AFTER + 1; i++) assert.equal((await browser.get(wrong.url)).status, 200);
    const row = await srv.app.store.models.Throttle.findOne({ where: { key: `signin/acct:${user.id}` } });
    assert.equal(row?.count, 1, 'one guess counted');
    const landed = await consentIfAsked(browser, await signIn(browser, await browser.get(wrong.url), user.login, user.password));
    assert.ok(landed.redirectedTo, 'the right password still signs in');
  });

  it('the current password of a password change spends the same budget as sign-in (one account, one budget)', async () => {
    const user = await seedUser(srv.app, { login: 'console' });
    for (let i = 0; i < BLOCK_AFTER - 1; i++) assert.equal(await attempt(user.login, `wrong ${i}`), 401);
    // One guess left on the account: a signed-in attacker spends it on the password change ...
    const changed = await srv.app.store.models.Throttle.findOne({ where: { key: `signin/acct:${user.id}` } });
    assert.equal(changed?.count, BLOCK_AFTER - 1);
    const { createPasswordChange } = await import('../../src/sspr/flows/password-change.ts');
    const change = createPasswordChange(srv.app.sspr);
    await assert.rejects(change.change({ accountId: user.id, current: 'not it', password: 'x', confirmation: 'x', context: { ip: '127.0.0.1' }, lang: 'en' }), { code: 'password_rejected' });
    // ... and then even the right password at sign-in is refused.
    assert.equal(await attempt(user.login, user.password), 429);
    await assert.rejects(change.change({ accountId: user.id, current: user.password, password: 'x', confirmation: 'x', context: { ip: '127.0.0.1' }, lang: 'en' }), { code: 'throttled' });
  });
});

describe('issue 16: the password budget holds across two instances on one PostgreSQL', function () {
  let db: TestDatabase;
  const servers: TestServer[] = [];
  let checked = 0;

  before(async function () {
    if (!(await postgresAvailable())) {
      console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
      this.skip();
    }
    db = await createPostgresDatabase();
    const overrides = { sspr: { enabled_for: 'none' as const, throttle: { sign_in_failures: { delay_after: 100, block_after: BLOCK_AFTER, block_minutes: 15 } } } };
    for (let i = 0; i < 2; i++) {
      const srv = await startTestServer({ database: db.url, overrides });
      const directory = srv.app.sspr.directory;
      const verify = directory.verifyPassword.bind(directory);
      directory.verifyPassword = async (id, password) => { checked++; return verify(id, password); };
      servers.push(srv);
    }
  });
  after(async () => { for (const s of servers) await s.close(); await db?.drop(); });

  it('30 concurrent wrong passwords split over two instances: at most block_after are checked', async () => {
    const user = await seedUser(servers[0].app, { login: 'raced-pg' });
    const pages = await Promise.all(Array.from({ length: 30 }, async (_, i) => {
      const rp = await relyingParty(servers[i % 2].issuer);
      const browser = new Browser();
      return { browser, page: (await rp.start(browser)).page };
    }));
    const answers = await Promise.all(pages.map(({ browser, page }, i) => signIn(browser, page, user.login, `wrong guess ${i}`)));
    const statuses = answers.map((a) => a.status);
    assert.equal(statuses.filter((st) => st === 401).length, BLOCK_AFTER, statuses.join(' '));
    assert.equal(statuses.filter((st) => st === 429).length, 30 - BLOCK_AFTER);
    assert.ok(checked <= BLOCK_AFTER, `${checked} passwords checked`);
  });
});
