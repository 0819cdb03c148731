/**
 * Sessions: ASVS 5.0 V7.2 (session tokens) and V7.4 (termination), with a certified relying party
 * (openid-client) holding real tokens.
 */
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { createAccountService } from '../../src/admin/accounts.ts';
import { Browser } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

describe('ASVS 5.0 V7.2 / V7.4 sessions', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let rp: RelyingParty;
  let n = 0;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    rp = await relyingParty(srv.issuer);
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  const sessionCookie = (b: Browser) => b.cookies.find((c) => c.name === '_session')?.value;
  const accounts = () => createAccountService({ store: srv.app.store, hasher: srv.app.hasher, clock: srv.app.clock, audit: srv.app.audit });

  /** Signs in through an authorization request and returns the tokens. */
  async function signedIn(b: Browser, user: SeededUser, extra: Record<string, string> = {}) {
    const { page, verifier, state } = await rp.start(b, extra);
    const done = await consentIfAsked(b, await signIn(b, page, user.login, user.password));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `signed in: ${done.status} ${done.url}`);
    return rp.finish(done.redirectedTo!, verifier, state);
  }

  /** Whether `cookies` still carry a session: a prompt=none request answers without asking. */
  async function sessionAlive(cookies: Browser['cookies']): Promise<boolean> {
    const b = new Browser();
    b.cookies = cookies.map((c) => ({ ...c }));
    const silent = await rp.start(b, { prompt: 'none' });
    if (/error=login_required/.test(silent.page.redirectedTo ?? '')) return false;
    assert.match(silent.page.redirectedTo ?? '', /[?&]code=/, `neither a code nor login_required: ${silent.page.redirectedTo}`);
    return true;
  }

  const newUser = () => seedUser(srv.app, { login: `sess-user-${++n}` });

  it('V7.2.4 every sign-in, also a re-authentication, issues a new session id and ends the old one', async () => {
    const user = await newUser();
    const b = new Browser();
    assert.equal(sessionCookie(b), undefined);
    await signedIn(b, user);
    const first = sessionCookie(b);
    assert.ok(first, 'a session after sign-in');
    const firstCookies = b.cookies.map((c) => ({ ...c }));
    await signedIn(b, user, { prompt: 'login consent' });
    const second = sessionCookie(b);
    assert.ok(second);
    assert.notEqual(second, first, 'a new session id after re-authentication');
    assert.equal(await sessionAlive(firstCookies), false, 'the old session id no longer works');
    assert.equal(await sessionAlive(b.cookies), true, 'the new one does');
  });

  it('V7.2.3 session ids are unique random values of at least 128 bits', async () => {
    const ids = new Set<string>();
    const user = await newUser();
    for (let i = 0; i < 3; i++) {
      const b = new Browser();
      await signedIn(b, user);
      const id = sessionCookie(b)!;
      assert.match(id, /^[\w-]{22,}$/, 'at least 22 base64url characters (132 bits)');
      ids.add(id);
    }
    assert.equal(ids.size, 3);
  });

  it('V7.4.1 logout ends the session at the server: its cookie no longer signs anyone in', async () => {
    const user = await newUser();
    const b = new Browser();
    const tokens = await signedIn(b, user);
    const kept = b.cookies.map((c) => ({ ...c }));
    const question = await b.get(client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'http://127.0.0.1:1/' }).toString());
    const out = await b.submit(question, { logout: 'yes' });
    assert.equal(out.redirectedTo, 'http://127.0.0.1:1/');
    assert.equal(await sessionAlive(kept), false, 'the session cookie from before the logout, replayed: no session');
    assert.equal(await srv.app.store.models.OidcPayload.count({ where: { model: 'Session', accountId: user.id } }), 0);
  });

  it('V7.4.2 disabling an account (user disable) ends every session, grant, access and refresh token', async () => {
    const user = await newUser();
    const b = new Browser();
    const tokens = await signedIn(b, user);
    assert.ok(tokens.refresh_token);
    // Codes and tokens are found through their grant (only sessions and grants carry the account).
    const { OidcPayload } = srv.app.store.models;
    const grantIds = (await OidcPayload.findAll({ attributes: ['id'], where: { model: 'Grant', accountId: user.id } })).map((g) => g.id);
    assert.ok((await OidcPayload.count({ where: { grantId: grantIds } })) >= 2, 'tokens of the grant exist');
    const { revoked } = await accounts().setDisabled(user.login, true, 'security-test');
    assert.ok(revoked >= 3);
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(rp.config, tokens.access_token, user.id));
    assert.equal(await sessionAlive(b.cookies), false);
    assert.equal(await OidcPayload.count({ where: { accountId: user.id } }), 0, 'nothing of the account is left');
    assert.equal(await OidcPayload.count({ where: { grantId: grantIds } }), 0, 'no code or token of its grants is left');
    // Enabled again, the old tokens stay dead.
    await accounts().setDisabled(user.login, false, 'security-test');
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!));
    await assert.rejects(client.fetchUserInfo(rp.config, tokens.access_token, user.id));
  });

  it('V7.4.5 an administrator ends a user\'s sessions and tokens by setting a password (user set-password)', async () => {
    const user = await newUser();
    const b = new Browser();
    const tokens = await signedIn(b, user);
    await accounts().setPassword(user.login, 'admin chosen lantern 5531', 'security-test');
    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(rp.config, tokens.access_token, user.id));
    assert.equal(await sessionAlive(b.cookies), false);
  });
});
