import assert from 'node:assert/strict';
import { Browser } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

describe('operations: policy-change audit, metrics, health, headers', function () {
  let db: TestDatabase;
  before(() => { db = createSqliteDatabase(); });
  after(async () => { await db?.drop(); });

  it('records one "SSPR policy changed" event when the sspr section changed since the last start', async () => {
    const start = async (enabled_for: 'all' | 'none') => (await startTestServer({ database: db.url, overrides: { sspr: { enabled_for } } }));
    let srv = await start('all');
    await srv.close();
    srv = await start('none');
    await srv.close();
    srv = await start('none');
    const events = await srv.app.audit.query({ activity: 'sspr.policy.changed' });
    await srv.close();
    assert.equal(events.length, 1);
    assert.equal(events[0].name, 'Self-service password reset policy changes');
    assert.deepEqual(events[0].details, { before: { enabled_for: 'all' }, after: { enabled_for: 'none' } });
  });

  describe('with a running server', () => {
    let srv: TestServer;
    before(async () => {
      srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' }, metrics: { token: 'metrics-token-for-tests' } } });
    });
    after(async () => { await srv?.close(); });

    const scrape = async (token?: string) => {
      const res = await fetch(`${srv.issuer}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
      return { status: res.status, text: await res.text() };
    };
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(series + ' '));
      return line ? Number(line.split(' ')[1]) : 0;
    };

    it('serves /metrics only with the bearer token, and counters move with sign-ins', async () => {
      assert.equal((await scrape()).status, 401);
      assert.equal((await scrape('wrong')).status, 401);
      const before = await scrape('metrics-token-for-tests');
      assert.equal(before.status, 200);
      const user = await seedUser(srv.app, { login: 'mia' });
      const rp = await relyingParty(srv.issuer);
      const browser = new Browser();
      const done = await consentIfAsked(browser, await signIn(browser, (await rp.start(browser)).page, 'mia', user.password));
      assert.ok(done.redirectedTo);
      const other = new Browser();
      await signIn(other, (await rp.start(other)).page, 'mia', 'wrong password here');
      const afterScrape = await scrape('metrics-token-for-tests');
      assert.equal(value(afterScrape.text, 'oidc_sspr_sign_ins_total{result="succeeded"}') - value(before.text, 'oidc_sspr_sign_ins_total{result="succeeded"}'), 1);
      assert.equal(value(afterScrape.text, 'oidc_sspr_sign_ins_total{result="failed"}') - value(before.text, 'oidc_sspr_sign_ins_total{result="failed"}'), 1);
      assert.match(afterScrape.text, /oidc_sspr_http_request_duration_seconds_bucket/);
    });

    it('answers /healthz while the database answers', async () => {
      const res = await fetch(`${srv.issuer}/healthz`);
      assert.equal(res.status, 200);
    });

    it('sends security headers and HttpOnly cookies on the sign-in page', async () => {
      const rp = await relyingParty(srv.issuer);
      const browser = new Browser();
      const { page } = await rp.start(browser);
      const csp = page.headers.get('content-security-policy') ?? '';
      assert.match(csp, /frame-ancestors 'none'/);
      assert.match(csp, /default-src 'none'/);
      assert.doesNotMatch(csp, /unsafe-inline/);
      assert.doesNotMatch(page.html, /<script/i, 'no script on our pages');
      assert.equal(page.headers.get('cache-control'), 'no-store');
      assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    });
  });
});
