import assert from 'node:assert/strict';
import { Browser, findForm, inputByAutocomplete, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

/**
 * An https issuer behind a TLS-terminating proxy (proxy: true, X-Forwarded-Proto: https): the
 * session cookie is `__Host-` (Secure, Path=/, no Domain) and the interaction and reset-flow cookies
 * `__Secure-`, and a whole sign-in works with those names. Over a plain-http issuer the names stay
 * unprefixed (the other suites sign in that way).
 */
describe('cookie prefixes with an https issuer', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let user: SeededUser;
  let httpsIssuer: string;
  const proxied = { 'x-forwarded-proto': 'https' };

  before(async () => {
    db = createSqliteDatabase();
    const port = await freePort();
    httpsIssuer = `https://127.0.0.1:${port}`;
    srv = await startTestServer({ database: db.url, port, overrides: { issuer: httpsIssuer, proxy: true, sspr: { enabled_for: 'none' } } });
    user = await seedUser(srv.app, { login: 'henk' });
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  /** The proxy's side: the browser speaks https to it, it speaks http to us. */
  const viaProxy = (url: string) => url.replace(httpsIssuer, `http://127.0.0.1:${new URL(httpsIssuer).port}`);

  async function follow(b: Browser, url: string, setCookies: string[], body?: string): Promise<Page & { location?: string }> {
    let page = await b.request(viaProxy(url), { headers: proxied, ...(body ? { body } : {}) });
    setCookies.push(...page.headers.getSetCookie());
    for (let i = 0; i < 10 && page.status >= 300 && page.status < 400; i++) {
      const next = new URL(page.headers.get('location')!, httpsIssuer).toString();
      if (!next.startsWith(httpsIssuer)) return { ...page, location: next };
      page = await b.request(viaProxy(next), { headers: proxied });
      setCookies.push(...page.headers.getSetCookie());
    }
    return page;
  }

  it('names the session __Host- and the interaction cookies __Secure-, all Secure, and signs in with them', async () => {
    const b = new Browser();
    const setCookies: string[] = [];
    const auth = new URL(`${httpsIssuer}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'test-app', response_type: 'code', scope: 'openid', redirect_uri: srv.redirectUri,
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'st-1',
    }).toString();
    const login = await follow(b, auth.toString(), setCookies);
    assert.equal(login.status, 200, login.html.slice(0, 300));
    const form = findForm(login.html);
    const fields = { ...form.hidden, [inputByAutocomplete(form.html, 'username')]: user.login, [inputByAutocomplete(form.html, 'current-password')]: user.password };
    let done = await follow(b, new URL(form.action, httpsIssuer).toString(), setCookies, new URLSearchParams(fields).toString());
    if (done.status === 200) {
      // test-app is not first-party: allow access on the consent page.
      const consent = findForm(done.html);
      done = await follow(b, new URL(consent.action, httpsIssuer).toString(), setCookies, new URLSearchParams(consent.hidden).toString());
    }
    assert.ok(done.location?.startsWith(`${srv.redirectUri}?code=`), `back at the client with a code: ${done.status} ${done.location ?? done.html.slice(0, 300)}`);

    const names = new Set(setCookies.map((c) => c.split('=')[0]));
    for (const wanted of ['__Host-oidc_sspr_session', '__Secure-oidc_sspr_interaction', '__Secure-oidc_sspr_interaction_resume']) {
      assert.ok(names.has(wanted), `set ${wanted} (saw ${[...names].join(', ')})`);
    }
    assert.ok(![...names].some((n) => n === '_session' || n === '_interaction'), 'no unprefixed provider cookie');
    for (const c of setCookies) {
      assert.match(c, /;\s*secure/i, c);
      if (c.startsWith('__Host-')) {
        assert.match(c, /;\s*path=\/(;|$)/i, c);
        assert.doesNotMatch(c, /;\s*domain=/i, c);
      }
    }
  });

  it('names the reset-flow cookie __Secure- and keeps it Secure', async () => {
    const b = new Browser();
    const setCookies: string[] = [];
    const page = await follow(b, `${httpsIssuer}/reset`, setCookies);
    assert.equal(page.status, 200);
    const reset = setCookies.find((c) => c.startsWith('__Secure-oidc_sspr_reset='));
    assert.ok(reset, setCookies.join('\n'));
    assert.match(reset, /;\s*secure/i);
    // The flow reads its cookie back under that name: the next step is reached, not "start again".
    const form = findForm(page.html);
    const next = await follow(b, new URL(form.action, httpsIssuer).toString(), setCookies,
      new URLSearchParams({ ...form.hidden, [inputByAutocomplete(form.html, 'username')]: user.login }).toString());
    assert.equal(next.status, 200);
    assert.doesNotMatch(next.html, /data-message-id="errors:sspr\.flow_expired"/);
  });
});
