import assert from 'node:assert/strict';
import { request, signIn, type Target, type TokenSet } from '../../bench/load.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

/**
 * Userinfo, refresh and the code exchange read a token together with its grant and the grant's account
 * (one statement, src/provider/adapter.ts). The attacks: keep using a token whose grant is gone —
 * revoked (its row deleted) or expired — or whose account was disabled, reset or deleted since, and
 * hope the joined read hands the endpoint a grant or an account anyway; or have one account's token
 * answered with another account's row.
 */
describe('a token read together with its grant: a grant that is gone or expired ends the token', function () {
  let db: TestDatabase;
  let store: Store;
  let srv: TestServer;
  let target: Target;
  let password: string;
  let otherPassword: string;

  before(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
    const client = { client_id: 'app', client_secret: 'app-secret-0123456789abcdef', redirect_uris: ['http://127.0.0.1:1/cb'], first_party: true };
    srv = await startTestServer({ database: db.url, store, overrides: { sspr: { enabled_for: 'none' }, clients: [client] } });
    target = { issuer: srv.issuer, clientId: client.client_id, clientSecret: client.client_secret, redirectUri: client.redirect_uris[0]! };
    password = (await seedUser(srv.app, { login: 'grace' })).password;
    otherPassword = (await seedUser(srv.app, { login: 'heidi' })).password;
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

  const accountSql = (sql: string, login: string) => store.sequelize.query(sql, { bind: [login] });
  const claims = async (tokens: TokenSet) => JSON.parse((await me(tokens)).body) as { sub: string; name?: string; preferred_username?: string };

  it('the account as it is now: a new name shows at once; disabled, or its credentials epoch moved, ends the token', async () => {
    const tokens = await signIn(target, 'heidi', otherPassword, { offline: true });
    assert.equal((await claims(tokens)).preferred_username, 'heidi');
    await accountSql("UPDATE accounts SET name = 'Heidi Renamed' WHERE login = $1", 'heidi');
    assert.equal((await claims(tokens)).name, 'Heidi Renamed', 'read per request, never kept from an earlier one');
    await accountSql('UPDATE accounts SET disabled = 1 WHERE login = $1', 'heidi');
    assert.equal((await me(tokens)).status, 401, 'a disabled account');
    assert.equal((await refreshWith(tokens)).status, 400);
    await accountSql('UPDATE accounts SET disabled = 0 WHERE login = $1', 'heidi');
    assert.equal((await me(tokens)).status, 200, 'enabled again, the grant still current');
    // What every credential event does (src/store/revoke.ts), here without deleting the grant.
    await accountSql('UPDATE accounts SET credentials_epoch = credentials_epoch + 1 WHERE login = $1', 'heidi');
    assert.equal((await me(tokens)).status, 401, 'a grant from before the credential event');
    assert.equal((await refreshWith(tokens)).status, 400);
  });

  it('an account that is gone ends its tokens', async () => {
    const login = 'ivan';
    const ivan = await seedUser(srv.app, { login });
    const tokens = await signIn(target, login, ivan.password, { offline: true });
    assert.equal((await me(tokens)).status, 200);
    await accountSql('DELETE FROM memberships WHERE account_id IN (SELECT id FROM accounts WHERE login = $1)', login);
    await accountSql('DELETE FROM accounts WHERE login = $1', login);
    assert.equal((await me(tokens)).status, 401);
    assert.equal((await refreshWith(tokens)).status, 400);
  });

  it('two accounts\' tokens used at once: each answered with its own account', async () => {
    const mine = await signIn(target, 'grace', password, { offline: true });
    const theirs = await signIn(target, 'heidi', otherPassword, { offline: true });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => claims(i % 2 ? theirs : mine)));
    answers.forEach((c, i) => assert.equal(c.preferred_username, i % 2 ? 'heidi' : 'grace', `call ${i}`));
  });
});
