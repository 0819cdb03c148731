/**
 * Throttles: NIST SP 800-63B rev4 §3.2.2 (rate limiting), ASVS 5.0 V6.3.1 / V6.6.3 (brute force on
 * passwords and codes) and V2.4.1 (anti-automation on code sends), persisted in the database so they
 * hold across a restart and across instances.
 */
import assert from 'node:assert/strict';
import type { ConfigInput } from '../../src/config/schema.ts';
import { IP_FACTOR } from '../../src/sspr/guess-limits.ts';
import { Browser, findForm, inputByAutocomplete, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

type Followed = Page & { redirectedTo?: string };

/** Posts the page's form from `ip` (the server trusts X-Forwarded-For: `proxy: true`). */
function post(b: Browser, page: Page, values: Record<string, string>, ip?: string): Promise<Followed> {
  const form = findForm(page.html);
  const action = new URL(form.action || page.url, page.url).toString();
  return b.follow(action, { body: new URLSearchParams({ ...form.hidden, ...values }).toString(), headers: ip ? { 'x-forwarded-for': ip } : {} });
}

/** Identifier → email → address, from one IP; returns the code page (or the refusal). */
async function requestEmailCode(issuer: string, login: string, address: string, ip?: string): Promise<Followed> {
  const b = new Browser();
  const start = await b.get(`${issuer}/reset`);
  const method = await post(b, start, { [inputByAutocomplete(start.html, 'username')]: login }, ip);
  if (method.status !== 200 || !/\/reset\/method$/.test(method.url)) return method;
  const target = await post(b, method, { method: 'email' }, ip);
  return Object.assign(await post(b, target, { target: address }, ip), { browser: b });
}

/** One wrong code in a new flow; the answer's status (or the refusal before the code page). */
async function wrongCode(issuer: string, login: string, address: string, ip?: string): Promise<number> {
  const page = await requestEmailCode(issuer, login, address, ip) as Followed & { browser?: Browser };
  if (!page.browser || !/\/reset\/code$/.test(page.url)) return page.status;
  return (await post(page.browser, page, { code: '000000' }, ip)).status;
}

async function passwordSignIn(issuer: string, login: string, password: string): Promise<number> {
  const rp = await relyingParty(issuer);
  const b = new Browser();
  const landed = await consentIfAsked(b, await signIn(b, (await rp.start(b)).page, login, password));
  return landed.redirectedTo?.startsWith(rp.redirectUri) ? 200 : landed.status;
}

/** Small limits, so a block is a few requests away. */
const TIGHT: NonNullable<ConfigInput['sspr']>['throttle'] = {
  failed_verifications: { max: 3, window_hours: 24, block_hours: 24 },
  email_sends: { max: 20, window_minutes: 10, block_hours: 1 },
  sign_in_failures: { delay_after: 100, block_after: 4, block_minutes: 15 },
};

async function withEmailMethod(srv: TestServer, login: string): Promise<SeededUser & { recovery: string }> {
  const user = await seedUser(srv.app, { login });
  const recovery = `${login}@example.net`;
  await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
  return { ...user, recovery };
}

describe('NIST SP 800-63B §3.2.2 / ASVS 5.0 V6.3.1, V6.6.3, V2.4.1 throttles', function () {
  describe('one instance', () => {
    let db: TestDatabase;
    let srv: TestServer;
    const clock = new TestClock();

    before(async () => {
      db = createSqliteDatabase();
      srv = await startTestServer({
        database: db.url,
        clock,
        overrides: {
          proxy: true,
          sspr: { throttle: { ...TIGHT, email_sends: { max: 3, window_minutes: 10, block_hours: 1 }, sign_in_failures: { delay_after: 100, block_after: 50, block_minutes: 15 } } },
        },
      });
    });
    after(async () => { await srv?.close(); await db?.drop(); });
    beforeEach(() => clock.advance('3d'));

    it('NIST SP 800-63B rev4 §3.2.2 password guesses on one account are blocked before 100 consecutive failures, briefly, without blocking its reset', async () => {
      const user = await withEmailMethod(srv, 'guessed');
      let attempts = 0;
      let status = 401;
      while (status === 401 && attempts < 100) {
        status = await passwordSignIn(srv.issuer, user.login, `guess number ${attempts}`);
        attempts++;
      }
      assert.equal(status, 429, 'blocked');
      const failures = attempts - 1;
      // Counted before the check: exactly block_after (default 50, at most 99 by configuration) are checked; then the block.
      assert.equal(failures, srv.config.sspr.throttle.sign_in_failures.block_after);
      assert.ok(failures < 100, `blocked after ${failures} consecutive failures`);
      assert.equal(await passwordSignIn(srv.issuer, user.login, user.password), 429, 'the right password waits too');
      // An attacker cannot lock the owner out of recovery: the self-service reset still starts.
      const code = await requestEmailCode(srv.issuer, user.login, user.recovery);
      assert.match(code.url, /\/reset\/code$/);
      // And the block is short.
      clock.advance('16m');
      assert.equal(await passwordSignIn(srv.issuer, user.login, user.password), 200);
    });

    it('V6.6.3 wrong codes block an identifier\'s self-service reset, unknown identifiers counted exactly like known ones', async () => {
      for (const login of ['nobody-here-x1', (await withEmailMethod(srv, 'coded-user')).login]) {
        // Each wrong code in a new flow from another IP: only the identifier's counter adds up.
        // (Another address each time: the per-address send cap is not what this test is about.)
        for (let i = 0; i < 3; i++) assert.equal(await wrongCode(srv.issuer, login, `${login}.${i}@example.net`, `10.0.7.${i}`), 400, `${login}: wrong code ${i + 1}`);
        assert.equal(await wrongCode(srv.issuer, login, `${login}.8@example.net`, '10.0.7.8'), 429, `${login}: blocked at the limit`);
        const fresh = await requestEmailCode(srv.issuer, login, `${login}.9@example.net`, '10.0.7.10');
        assert.equal(fresh.status, 429, `${login}: a new flow from a new IP is refused too`);
      }
      const other = await requestEmailCode(srv.issuer, 'somebody-else', 'somebody-else@example.net', '10.0.7.10');
      assert.equal(other.status, 200, 'another identifier from that IP goes on');
    });

    it('V2.4.1 code sends to one address are capped, whatever the identifier and IP', async () => {
      for (let i = 0; i < 3; i++) {
        const page = await requestEmailCode(srv.issuer, `sender-${i}`, 'target@example.net', `10.0.1.${i}`);
        assert.match(page.url, /\/reset\/code$/, `send ${i + 1}`);
      }
      const over = await requestEmailCode(srv.issuer, 'sender-9', 'target@example.net', '10.0.1.9');
      assert.equal(over.status, 429);
    });

    it('V2.4.1 code sends from one IP are capped (at IP_FACTOR times the per-identifier cap), whatever the identifier and address', async () => {
      for (let i = 0; i < 3 * IP_FACTOR; i++) {
        const page = await requestEmailCode(srv.issuer, `ip-sender-${i}`, `to-${i}@example.net`, '10.0.2.1');
        assert.match(page.url, /\/reset\/code$/, `send ${i + 1}`);
      }
      const over = await requestEmailCode(srv.issuer, 'ip-sender-9', 'to-9@example.net', '10.0.2.1');
      assert.equal(over.status, 429);
      const elsewhere = await requestEmailCode(srv.issuer, 'ip-sender-9', 'to-9@example.net', '10.0.2.2');
      assert.match(elsewhere.url, /\/reset\/code$/, 'another IP goes on');
    });
  });

  it('V6.3.1 the password and reset blocks hold across a restart (SQLite)', async () => {
    const db = createSqliteDatabase();
    const clock = new TestClock();
    const overrides = { sspr: { throttle: TIGHT } };
    let srv = await startTestServer({ database: db.url, clock, overrides });
    try {
      const user = await withEmailMethod(srv, 'restarted');
      for (let i = 0; i < 4; i++) assert.equal(await wrongCode(srv.issuer, user.login, user.recovery), i < 3 ? 400 : 429);
      for (let i = 0; i < 5; i++) await passwordSignIn(srv.issuer, user.login, `wrong ${i}`);
      assert.equal(await passwordSignIn(srv.issuer, user.login, user.password), 429);
      await srv.close();
      srv = await startTestServer({ database: db.url, clock, overrides });
      assert.equal((await requestEmailCode(srv.issuer, user.login, user.recovery)).status, 429, 'reset still blocked after the restart');
      assert.equal(await passwordSignIn(srv.issuer, user.login, user.password), 429, 'sign-in still blocked after the restart');
      clock.advance('16m');
      assert.equal(await passwordSignIn(srv.issuer, user.login, user.password), 200, 'and released on time');
    } finally {
      await srv.close();
      await db.drop();
    }
  });

  describe('two instances on one PostgreSQL', () => {
    let db: TestDatabase;
    let a: TestServer;
    let b: TestServer;
    const clock = new TestClock();

    before(async function () {
      if (!(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      db = await createPostgresDatabase();
      const overrides = { sspr: { throttle: TIGHT } };
      a = await startTestServer({ database: db.url, clock, overrides });
      b = await startTestServer({ database: db.url, clock, overrides });
    });
    after(async () => { await a?.close(); await b?.close(); await db?.drop(); });

    it('V6.3.1 the password and reset blocks hold across two instances on one PostgreSQL', async () => {
      const user = await withEmailMethod(a, 'shared-user');
      // Wrong codes alternate between the instances: together they reach the limit.
      assert.equal(await wrongCode(a.issuer, user.login, user.recovery), 400);
      assert.equal(await wrongCode(b.issuer, user.login, user.recovery), 400);
      assert.equal(await wrongCode(a.issuer, user.login, user.recovery), 400);
      assert.equal(await wrongCode(b.issuer, user.login, user.recovery), 429, 'the fourth, on B, is over the limit counted on both');
      assert.equal((await requestEmailCode(a.issuer, user.login, user.recovery)).status, 429, 'and A refuses a new flow');
      // Password guesses alternate too.
      for (let i = 0; i < 5; i++) await passwordSignIn(i % 2 ? b.issuer : a.issuer, user.login, `wrong ${i}`);
      assert.equal(await passwordSignIn(a.issuer, user.login, user.password), 429);
      assert.equal(await passwordSignIn(b.issuer, user.login, user.password), 429);
    });
  });
});
