import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser } from '../support/browser.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`OIDC authorization code + PKCE with openid-client (${dialect})`, function () {
    let db: TestDatabase;
    let srv: TestServer;
    let user: SeededUser;

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
      user = await seedUser(srv.app, { login: 'alice', phone: '+31612345678' });
    });
    after(async () => { await srv?.close(); await db?.drop(); });

    it('signs in, verifies the ID token against JWKS, reads userinfo, refreshes with rotation and logs out', async () => {
      const rp = await relyingParty(srv.issuer);
      const browser = new Browser();
      const { page, verifier, state } = await rp.start(browser);
      assert.match(page.html, /<html lang="en">/);
      assert.match(page.html, /Forgot your password\?/);
      const afterLogin = await signIn(browser, page, 'alice', user.password);
      const done = await consentIfAsked(browser, afterLogin);
      assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `expected a redirect to the client, got ${done.status} ${done.url}`);

      const tokens = await rp.finish(done.redirectedTo!, verifier, state);
      const claims = tokens.claims()!;
      assert.equal(claims.sub, user.id);
      assert.equal(claims.iss, srv.issuer);
      assert.ok(tokens.refresh_token, 'a refresh token is issued for offline_access');

      const info = await client.fetchUserInfo(rp.config, tokens.access_token, user.id);
      assert.equal(info.preferred_username, 'alice');
      assert.equal(info.email, 'alice@example.org');
      assert.equal(info.phone_number, '+31612345678');

      const refreshed = await client.refreshTokenGrant(rp.config, tokens.refresh_token!);
      assert.ok(refreshed.access_token);
      assert.notEqual(refreshed.refresh_token, tokens.refresh_token, 'refresh tokens rotate');
      await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant', 'a rotated refresh token is spent');

      const endSession = client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:1/' });
      const question = await browser.get(endSession.toString());
      assert.equal(question.status, 200);
      assert.match(question.html, /name="logout" value="yes"/);
      const out = await browser.submit(question, { logout: 'yes' });
      assert.equal(out.redirectedTo, 'http://127.0.0.1:1/');

      // The session is gone: a new authorization request asks for the password again.
      const again = await rp.start(browser);
      assert.match(again.page.html, /autocomplete="current-password"/);
    });

    it('gives a wrong password and an unknown user the same answer', async () => {
      const rp = await relyingParty(srv.issuer);
      const b1 = new Browser();
      const wrong = await signIn(b1, (await rp.start(b1)).page, 'alice', 'not the password at all');
      const b2 = new Browser();
      const unknown = await signIn(b2, (await rp.start(b2)).page, 'nobody-here', 'not the password at all');
      assert.equal(wrong.status, 401);
      assert.equal(unknown.status, 401);
      const shape = (html: string) => html.replace(/\/interaction\/[\w-]+/g, '/interaction/X').replace(/name="csrf" value="[^"]+"/, '').replace(/value="[^"]*"/g, '');
      assert.equal(shape(wrong.html), shape(unknown.html));
      assert.match(wrong.html, /data-message-id="errors:invalid_credentials"/);
    });

    it('requires PKCE for the public client', async () => {
      const rp = await relyingParty(srv.issuer, { clientId: 'public-app' });
      const url = client.buildAuthorizationUrl(rp.config, { redirect_uri: rp.redirectUri, scope: 'openid' });
      const page = await new Browser().get(url.toString());
      assert.ok(page.redirectedTo, 'the provider answers the client with an error');
      assert.match(page.redirectedTo!, /error=invalid_request/);
      assert.match(new URL(page.redirectedTo!).searchParams.get('error_description')!, /PKCE/);
    });
  });
}
