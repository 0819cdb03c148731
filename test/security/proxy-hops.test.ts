/**
 * Issue 16, item 5: behind a proxy (`proxy: true`) the client address is the right-most
 * X-Forwarded-For hop that none of our `proxy_hops` proxies wrote. A client that writes its own
 * X-Forwarded-For must not choose the address the per-IP throttles and the audit log see: a proxy
 * that appends to the header would otherwise let it reset every per-IP limit at will.
 *
 * The test client plays both parts: it sends `X-Forwarded-For: <forged>, 127.0.0.1`, which is what
 * reaches us when a client sends a forged `X-Forwarded-For: <forged>` from 127.0.0.1 through a
 * proxy that appends the address it saw.
 */
import assert from 'node:assert/strict';
import { Op } from 'sequelize';
import { Browser, findForm, inputByAutocomplete, type Page } from '../support/browser.ts';
import { createSqliteDatabase } from '../support/db.ts';
import { relyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

const FORGED = '203.0.113.7';
const OUR_PROXY_SAW = '127.0.0.1';

/** Starts a reset for `login` with the given X-Forwarded-For on both requests. */
async function startReset(issuer: string, login: string, xff: string): Promise<Page> {
  const b = new Browser();
  const headers = { 'x-forwarded-for': xff };
  const start = await b.follow(`${issuer}/reset`, { headers });
  const form = findForm(start.html);
  const body = new URLSearchParams({ ...form.hidden, [inputByAutocomplete(start.html, 'username')]: login }).toString();
  return b.follow(new URL(form.action, start.url).toString(), { body, headers });
}

/** A wrong password on the sign-in page, from the given X-Forwarded-For. */
async function wrongPassword(srv: TestServer, login: string, xff: string): Promise<void> {
  const rp = await relyingParty(srv.issuer);
  const b = new Browser();
  const { page } = await rp.start(b);
  const form = findForm(page.html);
  const body = new URLSearchParams({
    ...form.hidden,
    [inputByAutocomplete(page.html, 'username')]: login,
    [inputByAutocomplete(page.html, 'current-password')]: 'not the password at all',
  }).toString();
  await b.follow(new URL(form.action, page.url).toString(), { body, headers: { 'x-forwarded-for': xff } });
}

/** Every address the throttles and the audit log recorded since `since`. */
async function recordedAddresses(srv: TestServer, since: Date): Promise<{ throttleKeys: string[]; auditIps: string[] }> {
  const { Throttle, AuditEvent } = srv.app.store.models;
  const throttleKeys = (await Throttle.findAll({ attributes: ['key'] })).map((r) => r.key).filter((k) => /ip:/.test(k));
  const auditIps = (await AuditEvent.findAll({ where: { time: { [Op.gte]: since } }, attributes: ['ip'] })).map((r) => r.ip ?? '');
  return { throttleKeys, auditIps };
}

describe('Issue 16 · proxies: the client address is the right-most hop our proxies did not write', function () {
  for (const hops of [1, 2] as const) {
    describe(`proxy: true, proxy_hops: ${hops}`, function () {
      const db = createSqliteDatabase();
      let srv: TestServer;
      before(async () => {
        srv = await startTestServer({ database: db.url, overrides: { proxy: true, proxy_hops: hops } });
        await seedUser(srv.app, { login: 'vic' });
      });
      after(async () => { await srv?.close(); await db.drop(); });

      // Two proxies: the outer one appended the client's real address (203.0.113.7) after what the
      // client forged (198.51.100.99), the inner one appended the outer one's (127.0.0.1).
      const xff = hops === 1 ? `${FORGED}, ${OUR_PROXY_SAW}` : `198.51.100.99, ${FORGED}, ${OUR_PROXY_SAW}`;
      const expected = hops === 1 ? OUR_PROXY_SAW : FORGED;
      const title = hops === 1
        ? `a spoofed X-Forwarded-For (${FORGED}, ${OUR_PROXY_SAW}) is ignored: throttles and the audit log use ${OUR_PROXY_SAW}, the hop our proxy wrote`
        : `with proxy_hops: 2 (${xff}) throttles and the audit log use the second hop from the right, ${FORGED}`;
      it(title, async () => {
        const since = srv.app.clock.now();
        const reset = await startReset(srv.issuer, 'vic', xff);
        assert.match(reset.url, /\/reset\/method$/, 'the identifier step went through');
        await wrongPassword(srv, 'vic', xff);

        const { throttleKeys, auditIps } = await recordedAddresses(srv, since);
        assert.ok(throttleKeys.length > 0, 'per-IP throttle counters were written');
        for (const key of throttleKeys) assert.ok(key.includes(`ip:${expected}`) || key.includes(`|${expected}`), `throttle key ${key} is keyed on ${expected}`);
        assert.ok(auditIps.length >= 2, 'the reset and the failed sign-in were audited');
        assert.deepEqual([...new Set(auditIps)], [expected], 'every audit event names the client address');
      });

      if (hops === 1) {
        it('rotating the forged part of X-Forwarded-For does not spread guesses over new per-IP counters', async () => {
          const since = srv.app.clock.now();
          for (let i = 1; i <= 4; i++) await startReset(srv.issuer, `nobody-${i}`, `198.51.100.${i}, ${OUR_PROXY_SAW}`);
          const { throttleKeys, auditIps } = await recordedAddresses(srv, since);
          assert.ok(throttleKeys.every((k) => !/198\.51\.100\./.test(k)), `no counter per forged address: ${throttleKeys.join(', ')}`);
          assert.ok(auditIps.every((ip) => ip === OUR_PROXY_SAW), `audited from ${[...new Set(auditIps)].join(', ')}`);
          // The four starts all landed on the one address's counter.
          const { Throttle } = srv.app.store.models;
          const perIp = await Throttle.findAll({ where: { key: { [Op.like]: `%ip:${OUR_PROXY_SAW}%` } } });
          assert.ok(perIp.some((r) => r.count >= 5), `one per-IP start counter holds every start: ${perIp.map((r) => `${r.key}=${r.count}`).join(', ')}`);
        });
      }
    });
  }

  it('proxy_hops must be a whole number of at least 1', async () => {
    const { configSchema } = await import('../../src/config/schema.ts');
    assert.equal(configSchema.parse({}).proxy_hops, 1, 'default 1');
    for (const bad of [0, -1, 1.5]) assert.equal(configSchema.safeParse({ proxy_hops: bad }).success, false, `refuses ${bad}`);
  });
});
