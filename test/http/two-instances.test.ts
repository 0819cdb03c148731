import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import * as client from 'openid-client';
import { Browser } from '../support/browser.ts';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

describe('two provider instances on one PostgreSQL database', function () {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;

  before(async function () {
    if (!(await postgresAvailable())) {
      console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
      this.skip();
    }
    db = await createPostgresDatabase();
    // Both instances answer for one issuer (as behind a load balancer): same port number on two
    // loopback addresses is not portable, so instance B gets its own port and the browser is
    // pointed at it by rewriting the origin, which is what a balancer does.
    const port = await freePort();
    const overrides = { sspr: { enabled_for: 'none' as const } };
    a = await startTestServer({ database: db.url, port, overrides });
    b = await startTestServer({ database: db.url, port: await freePort(), overrides: { ...overrides, issuer: a.issuer } });
  });
  after(async () => { await a?.close(); await b?.close(); await db?.drop(); });

  it('begins a flow on one instance and finishes it on the other', async () => {
    const user = await seedUser(a.app, { login: 'carol' });
    const rp = await relyingParty(a.issuer);
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);
    assert.equal(page.status, 200);
    // Move the browser to instance B for the rest: cookies are per host:port, so copy them over.
    const bOrigin = `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`;
    const aOrigin = new URL(a.issuer).origin;
    browser.cookies = browser.cookies.map((c) => ({ ...c, origin: bOrigin }));
    const onB = { ...page, url: page.url.replace(aOrigin, bOrigin), html: page.html };
    const afterLogin = await signIn(browser, onB, 'carol', user.password);
    // B redirects to the issuer's /auth (instance A's address); continue on B.
    let current = afterLogin;
    for (let i = 0; i < 5 && !current.redirectedTo?.startsWith(rp.redirectUri); i++) {
      if (current.redirectedTo?.startsWith(aOrigin)) {
        current = await browser.get(current.redirectedTo.replace(aOrigin, bOrigin), bOrigin);
        browser.cookies = browser.cookies.map((c) => ({ ...c, origin: bOrigin }));
        continue;
      }
      current = await consentIfAsked(browser, current);
    }
    assert.ok(current.redirectedTo?.startsWith(rp.redirectUri), `ended at ${current.status} ${current.url} ${current.redirectedTo ?? ''}`);
    const tokens = await rp.finish(current.redirectedTo!, verifier, state);
    assert.equal(tokens.claims()!.sub, user.id);
    // And a token issued through B is accepted by A.
    const info = await client.fetchUserInfo(rp.config, tokens.access_token, user.id);
    assert.equal(info.preferred_username, 'carol');
  });
});
