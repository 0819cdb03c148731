/**
 * Hardening of every page and form: ASVS 5.0 V3.3 (cookies), V3.4 (browser security headers), V3.5.1
 * (CSRF), V14.3.2 (no caching), V15.2.2 / V15.3.7 (request limits) and links never taken from the
 * Host header. The pages are collected once, by walking every flow a person can walk.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import * as client from 'openid-client';
import { Browser, attr, findForm, inputByAutocomplete, type Page } from '../support/browser.ts';
import { captureCodes } from '../support/codes.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

/** A browser that keeps every Set-Cookie header it receives. */
class RecordingBrowser extends Browser {
  setCookies: string[] = [];
  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    const page = await super.request(url, init);
    this.setCookies.push(...page.headers.getSetCookie());
    return page;
  }
}


/** One raw HTTP GET with headers fetch would not send as given (Host). */
function rawGet(port: number, path: string, headers: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('ASVS 5.0 V3 / V14.3 / V15 hardening', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let rp: RelyingParty;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let codes: Map<string, string>;
  let user: SeededUser & { recovery: string };
  /** Every kind of page a person sees, by name. */
  const pages: Record<string, Page> = {};
  /** Every Set-Cookie header seen while collecting them. */
  const setCookies: string[] = [];
  /** Responses that are not pages. */
  const other: Record<string, Page> = {};

  const flowIdOf = (b: Browser) => b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];

  before(async () => {
    smtp = await startSmtpServer();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      overrides: {
        proxy: true,
        delivery: { outbox_dir: `${db.dir}/outbox`, email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
        sspr: { enabled_for: 'all', methods: ['email', 'sms', 'totp'] },
      },
    });
    codes = captureCodes(srv.app);
    rp = await relyingParty(srv.issuer);
    const seeded = await seedUser(srv.app, { login: 'hardy' });
    user = { ...seeded, recovery: 'hardy.r@example.net' };
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: user.recovery });
    const newcomer = await seedUser(srv.app, { login: 'newcomer' }); // no methods: registration at sign-in

    // Sign-in, consent, logout and signed-out pages.
    const b = new RecordingBrowser();
    const first = await rp.start(b);
    pages.login = first.page;
    pages.consent = await signIn(b, first.page, user.login, user.password);
    assert.match(pages.consent.html, /\/confirm"/, 'the consent page');
    const done = await consentIfAsked(b, pages.consent);
    const tokens = await rp.finish(done.redirectedTo!, first.verifier, first.state);
    pages.logout = await b.get(client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token! }).toString());
    pages.loggedOut = await b.submit(pages.logout, { logout: 'yes' });
    assert.match(pages.loggedOut.url, /\/session\/end\/success/);

    // Registration pages.
    const r = new RecordingBrowser();
    pages.registerChoose = await signIn(r, (await rp.start(r)).page, newcomer.login, newcomer.password);
    assert.match(pages.registerChoose.url, /\/register/);
    pages.registerTarget = await r.submit(pages.registerChoose, { method: 'email' }, { actionPart: '/method' });
    pages.registerCode = await r.submit(pages.registerTarget, { [inputByAutocomplete(pages.registerTarget.html, 'email')]: 'newcomer@example.net' }, { actionPart: '/target' });
    const back = await r.submit(pages.registerCode, { action: 'back' }, { actionPart: '/verify' });
    pages.registerTotp = await r.submit(back, { method: 'totp' }, { actionPart: '/method' });
    assert.match(pages.registerTotp.html, /otpauth:/);

    // Forgot-password pages, stand-alone and inside an interaction.
    const f = new RecordingBrowser();
    pages.resetIdentifier = await f.get(`${srv.issuer}/reset`);
    pages.resetMethod = await f.submit(pages.resetIdentifier, { [inputByAutocomplete(pages.resetIdentifier.html, 'username')]: user.login });
    pages.resetTarget = await f.submit(pages.resetMethod, { method: 'email' });
    pages.resetCode = await f.submit(pages.resetTarget, { target: user.recovery });
    pages.resetPassword = await f.submit(pages.resetCode, { code: codes.get(flowIdOf(f))! });
    assert.match(pages.resetPassword.url, /\/reset\/password$/);
    const i = new RecordingBrowser();
    const { page } = await rp.start(i);
    pages.interactionReset = await i.get(new URL(`${new URL(page.url).pathname}/reset`, srv.issuer).toString());

    // Error pages.
    const e = new RecordingBrowser();
    pages.error = await e.get(`${srv.issuer}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:1/cb`);
    pages.notFound = await e.get(`${srv.issuer}/no-such-page`);
    const forms = new RecordingBrowser();
    const formPage = await forms.get(`${srv.issuer}/reset`);
    pages.csrfError = await forms.request(`${srv.issuer}/reset`, { body: 'login=x' });
    assert.equal(pages.csrfError.status, 403, `a refused form is a page too: ${formPage.status}`);

    other.discovery = await e.request(`${srv.issuer}/.well-known/openid-configuration`);
    other.jwks = await e.request(`${srv.issuer}/jwks`);
    other.token = await e.request(`${srv.issuer}/token`, { body: 'grant_type=authorization_code&code=x' });
    other.css = await e.request(`${srv.issuer}/static/style.css`);
    other.health = await e.request(`${srv.issuer}/healthz`);

    for (const x of [b, r, f, i, e, forms]) setCookies.push(...x.setCookies);
  });
  after(async () => { await srv?.close(); await smtp?.close(); await db?.drop(); });

  const everyPage = () => Object.entries(pages);
  const everyResponse = () => [...Object.entries(pages), ...Object.entries(other)];

  it('V3.4.3 every page has a Content-Security-Policy that allows no script, and no page carries inline script', () => {
    assert.ok(everyPage().length >= 17);
    for (const [name, p] of everyPage()) {
      const csp = p.headers.get('content-security-policy') ?? '';
      assert.match(csp, /(^|;\s*)default-src 'none'/, `${name}: ${csp}`);
      assert.doesNotMatch(csp, /script-src|unsafe-inline|unsafe-eval/, `${name}: no script source at all`);
      assert.match(csp, /base-uri 'none'/, name);
      assert.doesNotMatch(p.html, /<script/i, `${name}: no script element`);
      assert.doesNotMatch(p.html, /<[^>]+\son[a-z]+\s*=/i, `${name}: no event-handler attribute`);
      assert.doesNotMatch(p.html, /javascript:/i, `${name}: no javascript: URL`);
    }
  });

  it('V3.4.6 every page forbids framing: frame-ancestors \'none\' (and X-Frame-Options DENY on every response)', () => {
    for (const [name, p] of everyPage()) assert.match(p.headers.get('content-security-policy') ?? '', /frame-ancestors 'none'/, name);
    for (const [name, p] of everyResponse()) assert.equal(p.headers.get('x-frame-options'), 'DENY', name);
  });

  it('V3.4.5 the reset pages (and every other response) send Referrer-Policy: no-referrer', () => {
    const reset = everyPage().filter(([name]) => /reset/i.test(name));
    assert.ok(reset.length >= 6);
    for (const [name, p] of everyResponse()) assert.equal(p.headers.get('referrer-policy'), 'no-referrer', name);
  });

  it('V14.3.2 interaction, registration and reset pages are never cached (Cache-Control: no-store)', () => {
    for (const [name, p] of everyPage()) assert.match(p.headers.get('cache-control') ?? '', /no-store/, name);
  });

  it('V3.4.4 every response sends X-Content-Type-Options: nosniff', () => {
    for (const [name, p] of everyResponse()) assert.equal(p.headers.get('x-content-type-options'), 'nosniff', name);
  });

  it('V3.3.4 session, interaction and reset-flow cookies are HttpOnly', () => {
    const names = new Set(setCookies.map((c) => c.split('=')[0]));
    for (const wanted of ['_session', '_interaction', '_interaction_resume', 'oidc_sspr_reset']) assert.ok(names.has(wanted), `saw ${wanted}`);
    for (const c of setCookies) assert.match(c, /;\s*httponly/i, c);
  });

  it('V3.3.2 every cookie has a SameSite attribute', () => {
    assert.ok(setCookies.length > 0);
    for (const c of setCookies) assert.match(c, /;\s*samesite=(lax|strict)/i, c);
  });

  it('V3.3.1 behind a TLS-terminating proxy (proxy: true, X-Forwarded-Proto: https) every cookie is Secure', async () => {
    const b = new RecordingBrowser();
    const https = { 'x-forwarded-proto': 'https' };
    const auth = client.buildAuthorizationUrl(rp.config, { redirect_uri: rp.redirectUri, scope: 'openid', code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' });
    await b.request(auth.toString(), { headers: https });
    await b.request(`${srv.issuer}/reset`, { headers: https });
    await b.request(`${srv.issuer}/reset?lang=nl`, { headers: https });
    const names = new Set(b.setCookies.map((c) => c.split('=')[0]));
    for (const wanted of ['_interaction', 'oidc_sspr_reset', 'oidc_sspr_lang']) assert.ok(names.has(wanted), `saw ${wanted}`);
    for (const c of b.setCookies) assert.match(c, /;\s*secure/i, c);
  });

  it('V3.4.1 over TLS (proxy: true, X-Forwarded-Proto: https) responses send Strict-Transport-Security; over plain http they do not', async () => {
    const b = new Browser();
    const secure = await b.request(`${srv.issuer}/reset`, { headers: { 'x-forwarded-proto': 'https' } });
    assert.match(secure.headers.get('strict-transport-security') ?? '', /max-age=31536000/);
    const plain = await new Browser().request(`${srv.issuer}/reset`);
    assert.equal(plain.headers.get('strict-transport-security'), null);
  });

  it('V15.2.2 request bodies over 16 kB are refused (413) before they are read', async () => {
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const csrf = findForm(start.html).hidden.csrf;
    const login = await rp.start(b);
    const loginForm = findForm(login.page.html);
    for (const [url, token] of [[`${srv.issuer}/reset`, csrf], [new URL(loginForm.action, login.page.url).toString(), loginForm.hidden.csrf]] as const) {
      const res = await b.request(url, { body: `csrf=${token}&login=${'a'.repeat(17 * 1024)}&password=x` });
      assert.equal(res.status, 413, url);
      assert.match(res.html, /data-error-code="payload_too_large"/);
    }
  });

  it('V15.3.7 repeated, array- and object-valued fields and forms of more than 20 fields are refused', async () => {
    const b = new Browser();
    const { page } = await rp.start(b);
    const form = findForm(page.html);
    const action = new URL(form.action, page.url).toString();
    const base = new URLSearchParams({ csrf: form.hidden.csrf, login: user.login, password: user.password });
    const padded = new URLSearchParams(base);
    for (let k = 0; k < 25; k++) padded.append(`extra${k}`, 'x');
    for (const [what, body] of [
      ['a repeated field', `${base}&login=other`],
      ['an array-valued field', `csrf=${form.hidden.csrf}&login[]=a&login[]=b&password=x`],
      ['an object-valued field', `csrf=${form.hidden.csrf}&login[a]=1&password=x`],
      ['28 fields', padded.toString()],
    ]) {
      const res = await b.request(action, { body });
      assert.equal(res.status, 400, `${what}: ${res.status}`);
    }
    // The same sign-in with its three fields goes through.
    const ok = await b.request(action, { body: base.toString() });
    assert.equal(ok.status, 303);
  });

  it('V3.5.1 every form carries an anti-forgery token, and a post without it or with another flow\'s is refused', async () => {
    let forms = 0;
    for (const [name, p] of everyPage()) {
      for (const m of p.html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)) {
        if ((attr(m[1], 'method') ?? 'get').toLowerCase() !== 'post') continue;
        forms++;
        const hidden = findForm(`<form${m[1]}>${m[2]}</form>`).hidden;
        const tokenName = 'csrf' in hidden ? 'csrf' : 'xsrf';
        assert.ok(hidden[tokenName] && hidden[tokenName].length >= 22, `${name}: a token in ${attr(m[1], 'action')}`);
      }
    }
    assert.ok(forms >= 12, `${forms} forms`);

    // Posts without the token, and with a token of another flow: refused, nothing happens.
    const b = new Browser();
    const { page } = await rp.start(b);
    const action = new URL(findForm(page.html).action, page.url).toString();
    assert.equal((await b.request(action, { body: new URLSearchParams({ login: user.login, password: user.password }).toString() })).status, 403);
    const other = new Browser();
    const otherReset = await other.get(`${srv.issuer}/reset`);
    const mine = await b.get(`${srv.issuer}/reset`);
    const foreign = await b.request(`${srv.issuer}/reset`, { body: new URLSearchParams({ csrf: findForm(otherReset.html).hidden.csrf, login: user.login }).toString() });
    assert.equal(foreign.status, 403, 'a token bound to another flow');
    assert.equal((await b.request(`${srv.issuer}/reset`, { body: new URLSearchParams({ login: user.login }).toString() })).status, 403);
    void mine;
    // oidc-provider's own logout form checks its xsrf token too.
    const s = new Browser();
    const first = await rp.start(s);
    const tokens = await rp.finish((await consentIfAsked(s, await signIn(s, first.page, user.login, user.password))).redirectedTo!, first.verifier, first.state);
    const question = await s.get(client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token! }).toString());
    const logoutAction = new URL(findForm(question.html).action, question.url).toString();
    const forged = await s.request(logoutAction, { body: 'logout=yes&xsrf=forged' });
    assert.equal(forged.status, 400);
    const silent = await rp.start(s, { prompt: 'none' });
    assert.match(silent.page.redirectedTo ?? '', /[?&]code=/, 'still signed in: the forged logout did nothing');
  });

  it('V6.4.3 links are never built from the Host header: a forged Host or X-Forwarded-Host appears in no page, redirect or email', async () => {
    const evil = 'evil.example';
    const port = Number(new URL(srv.issuer).port);
    const seen: string[] = [];
    // Raw Host header on the entry points.
    for (const path of ['/reset', '/.well-known/openid-configuration', '/no-such-page', `/auth?${new URLSearchParams({ client_id: 'test-app', response_type: 'code', scope: 'openid', redirect_uri: rp.redirectUri, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256' })}`]) {
      for (const headers of [{ host: evil }, { host: evil, 'x-forwarded-host': evil }] as Array<Record<string, string>>) {
        const res = await rawGet(port, path, headers);
        seen.push(`${path} ${res.status} ${JSON.stringify(res.headers)} ${res.body}`);
      }
    }
    // A whole reset through forged X-Forwarded-Host (trusted with proxy: true), and its email.
    const b = new Browser();
    const forged = { 'x-forwarded-host': evil };
    const go = async (page: Page, values: Record<string, string>) => {
      const form = findForm(page.html);
      const res = await b.request(new URL(form.action || page.url, page.url).toString(), { body: new URLSearchParams({ ...form.hidden, ...values }).toString(), headers: forged });
      seen.push(`${res.status} ${res.headers.get('location')} ${res.html}`);
      return b.request(new URL(res.headers.get('location') ?? page.url, page.url).toString(), { headers: forged });
    };
    const start = await b.request(`${srv.issuer}/reset`, { headers: forged });
    const method = await go(start, { login: user.login });
    const target = await go(method, { method: 'email' });
    const since = smtp.received.length;
    const code = await go(target, { target: user.recovery });
    const pw = await go(code, { code: codes.get(flowIdOf(b))! });
    const done = await go(pw, { new_password: 'forged host lantern 7781', confirm_password: 'forged host lantern 7781' });
    assert.match(done.url, /\/reset\/done$/);
    seen.push(...[start, method, target, code, pw, done].map((p) => p.html));
    await waitFor(() => smtp.received.length >= since + 2);
    seen.push(...smtp.received.slice(since).map((m) => `${JSON.stringify(m.headers)} ${m.text}`));
    for (const s of seen) assert.ok(!s.includes(evil), `the forged host leaked:\n${s.slice(0, 600)}`);
  });
});
