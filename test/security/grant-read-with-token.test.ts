import assert from 'node:assert/strict';
import { request, signIn, type Target, type TokenSet } from '../../bench/load.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

/**
 * Userinfo, refresh and the code exchange read a token together with its grant (one statement,
 * src/provider/adapter.ts). The attack: keep using a token whose grant is gone — revoked (its row
 * deleted) or expired — and hope the joined read hands the endpoint a grant anyway.
 */
describe('a token read together with its grant: a grant that is gone or expired ends the token', function () {
  let db: TestDatabase;
  let store: Store;
  let srv: TestServer;
  let target: Target;
  let password: string;

  before(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
    const client = { client_id: 'app', client_secret: 'app-secret-0123456789abcdef', redirect_uris: ['http://127.0.0.1:1/cb'], first_party: true };
    srv = await startTestServer({ database: db.url, store, overrides: { sspr: { enabled_for: 'none' }, clients: [client] } });
    target = { issuer: srv.issuer, clientId: client.client_id, clientSecret: client.client_secret, redirectUri: client.redirect_uris[0]! };
    password = (await seedUser(srv.app, { login: 'grace' })).password;
  });
  after(async () => {
    await srv?.close();
    await store?.close();
    await db?.drop();
  });

  const me = (tokens: TokenSet) => request(new URL('/me', target.issuer), { headers: { authorization: `Bearer ${tokens.access_token}`, accept: 'application/json' } });
  const refreshWith = (tokens: TokenSet) => request(new URL('/token', target.issuer), {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token! }).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${target.clientId}:${target.clientSecret}`).toString('base64')}` },
  });
  const grantOf = async (tokens: TokenSet) => {
    const [rows] = await store.sequelize.query("SELECT grant_id FROM oidc_payloads WHERE model = 'AccessToken' AND id = $1", { bind: [tokens.access_token] });
    return (rows as Array<{ grant_id: string }>)[0]!.grant_id;
  };

  for (const how of ['deleted', 'expired'] as const) {
    it(`the grant ${how}: userinfo answers 401 and the refresh token is refused, while a token of a live grant still works`, async () => {
      const doomed = await signIn(target, 'grace', password, { offline: true });
      const alive = await signIn(target, 'grace', password, { offline: true });
      assert.equal((await me(doomed)).status, 200, 'works before');
      const grantId = await grantOf(doomed);
      assert.notEqual(grantId, await grantOf(alive));
      if (how === 'deleted') await store.sequelize.query("DELETE FROM oidc_payloads WHERE model = 'Grant' AND id = $1", { bind: [grantId] });
      else await store.sequelize.query("UPDATE oidc_payloads SET expires_at = '2000-01-01 00:00:00.000 +00:00' WHERE model = 'Grant' AND id = $1", { bind: [grantId] });
      assert.equal((await me(doomed)).status, 401, 'userinfo refuses the token of a grant that is gone');
      const refreshed = await refreshWith(doomed);
      assert.equal(refreshed.status, 400, refreshed.body);
      assert.match(refreshed.body, /invalid_grant/);
      assert.equal((await me(alive)).status, 200, 'the other grant is untouched');
      assert.equal((await refreshWith(alive)).status, 200);
    });
  }
});
