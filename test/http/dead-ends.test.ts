import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as client from 'openid-client';
import { Browser, attr, findForm, inputByAutocomplete, link, messageIds, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;

const NEW_PASSWORD = 'violet tractor lantern oboe 93';
const decode = (s: string) => s.replace(/&amp;/g, '&');

/** The input tag with this id. */
function input(html: string, id: string): string {
  const tag = [...html.matchAll(/<(?:input|fieldset)\b([^>]*)>/g)].find((m) => attr(m[1], 'id') === id);
  assert.ok(tag, `no field #${id}`);
  return tag[1];
}

/** The field is marked invalid and points at a role="alert" element beside it that holds `messageId`. */
function assertFieldError(html: string, id: string, messageId: string): void {
  const tag = input(html, id);
  assert.equal(attr(tag, 'aria-invalid'), 'true', `#${id} aria-invalid`);
  const described = attr(tag, 'aria-describedby')?.split(' ') ?? [];
  const errorId = `${id}-error`;
  assert.ok(described.includes(errorId), `#${id} aria-describedby names ${errorId}`);
  const box = new RegExp(`<div class="field-error" id="${errorId}" role="alert">([\\s\\S]*?)</div>`).exec(html);
  assert.ok(box, `#${errorId} with role="alert" is on the page`);
  assert.match(box[1], new RegExp(`data-message-id="${messageId.replace(/\./g, '\\.')}"`));
}

/** The language switcher's target for `lang`, which must answer GET. */
const languageLink = (html: string, lang: 'en' | 'nl') => decode(new RegExp(`<a href="([^"]+)" hreflang="${lang}"`).exec(html)![1]);

describe('issue 18: pages a person finishes without help (sign-in and reset, HTTP)', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let smtp: Smtp;
  const clock = new TestClock();
  let n = 0;
  const unique = (p: string) => `${p}${++n}`;

  before(async () => {
    smtp = await startSmtpServer();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: {
        timezone: 'Europe/Amsterdam',
        clients: [{
          client_id: 'test-app',
          client_secret: 'test-app-secret-0123456789',
          redirect_uris: ['http://127.0.0.1:1/cb'],
          client_name: 'Expense Tracker',
          client_uri: 'https://expenses.example.org/',
          logo_uri: 'https://cdn.example.org/expenses.png',
        }],
        delivery: {
          outbox_dir: join(db.dir, 'outbox'),
          email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
          sms: { transport: 'outbox', allowed_countries: ['NL', 'BE'] },
        },
        sspr: {
          methods: ['email', 'sms', 'totp'],
          helpdesk: { url: '', email: 'servicedesk@example.org' },
          throttle: { email_sends: { max: 3, window_minutes: 10, block_hours: 1 } },
        },
      },
    });
  });
  after(async () => { await srv?.close(); await smtp?.close(); await db?.drop(); });
  beforeEach(() => clock.advance('3d'));

  async function userWithEmail(): Promise<SeededUser & { recovery: string }> {
    const login = unique('walker');
    const user = await seedUser(srv.app, { login, name: `Walker ${n}` });
    const recovery = `${login}.recovery@example.net`;
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
    return { ...user, recovery };
  }

  async function mailedCode(to: string, since: number): Promise<string> {
    let text = '';
    await waitFor(() => {
      const m = smtp.received.slice(since).find((r) => r.to.includes(to) && CODE_RUN.test(r.text));
      if (m) text = m.text;
      return m !== undefined;
    });
    return text.match(CODE_RUN)![0];
  }

  const failures = async (accountId: string) => (await srv.app.audit.query({ activity: 'auth.sign_in.failed', targetAccountId: accountId })).length;
  const codeFailures = async (correlationId: string) => (await srv.app.audit.query({ activity: 'sspr.reset.failed', correlationId })).length;

  it('names the app (client_name, logo, home page) on the sign-in and consent pages, never only its client_id', async () => {
    const user = await userWithEmail();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const { page } = await rp.start(b);
    assert.match(page.html, /<a href="https:\/\/expenses\.example\.org\/" class="client-name">Expense Tracker<\/a>/);
    assert.match(page.html, /<img class="client-logo" src="https:\/\/cdn\.example\.org\/expenses\.png" alt=""/);
    assert.doesNotMatch(page.html.replace(/<form[\s\S]*<\/form>/, ''), />[^<]*test-app/);
    // The logo's origin, and only it, is allowed by the page's CSP.
    assert.match(page.headers.get('content-security-policy') ?? '', /img-src 'self' data: https:\/\/cdn\.example\.org;/);
    const consent = await signIn(b, page, user.login, user.password);
    assert.match(consent.url, /\/interaction\//);
    assert.match(consent.html, /Expense Tracker<\/a> asks for access to:/);
  });

  for (const lang of ['en', 'nl'] as const) {
    it(`${lang}: a wrong password redirects to the sign-in page (reload posts nothing: one audited attempt); field marked; the language link keeps the sign-in`, async () => {
      const user = await userWithEmail();
      const rp = await relyingParty(srv.issuer);
      const b = new Browser();
      b.acceptLanguage = lang;
      const { page } = await rp.start(b);
      const wrong = await signIn(b, page, user.login, 'not the password at all');
      assert.equal(wrong.status, 401);
      assert.match(wrong.url, /\/interaction\/[\w-]+$/, 'shown at the GET address, not the form action');
      assert.ok(b.history.some((h) => /^POST \/interaction\/[\w-]+\/login 303$/.test(h)), b.history.join('\n'));
      assertFieldError(wrong.html, 'password', 'errors:invalid_credentials');
      assert.equal(attr(input(wrong.html, 'login'), 'value'), user.login);

      // A reload is a GET of the same address: the page again, no second guess.
      const reload = await b.get(wrong.url);
      assert.equal(reload.status, 200);
      assert.equal(await failures(user.id), 1, 'one failed sign-in in the audit log');

      // The other language, from the page after the error: still this sign-in, name filled in.
      const other = lang === 'en' ? 'nl' : 'en';
      const switched = await b.get(new URL(languageLink(wrong.html, other), srv.issuer).toString());
      assert.equal(switched.status, 200);
      assert.match(switched.html, new RegExp(`<html lang="${other}">`));
      assert.match(switched.html, /autocomplete="current-password"/);
      assert.equal(attr(input(switched.html, 'login'), 'value'), user.login);
      // The address a form posts to answers GET too (a reload or a link there): the sign-in in progress.
      const atAction = await b.get(`${wrong.url}/login?lang=${lang}`);
      assert.equal(atAction.status, 200);
      assert.match(atAction.html, /autocomplete="current-password"/);
      assert.equal(await failures(user.id), 1);

      const done = await consentIfAsked(b, await signIn(b, switched, user.login, user.password));
      assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), 'the sign-in went on');
    });
  }

  it('carries the login typed at sign-in into "Forgot your password?" and back after the reset, never in a URL', async () => {
    const user = await userWithEmail();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const { page, verifier, state } = await rp.start(b);
    const wrong = await signIn(b, page, user.login, 'forgot it, sorry');
    const start = await b.get(new URL(link(wrong.html, 'forgot-password'), srv.issuer).toString());
    assert.equal(start.status, 200, `${start.url}\n${b.history.join('\n')}\n${start.html.slice(0, 1500)}`);
    assert.equal(attr(input(start.html, 'login'), 'value'), user.login, 'the identifier page starts from the name typed');
    // A browser posts the filled-in value as it is.
    const method = await b.submit(start, { login: attr(input(start.html, 'login'), 'value')! });
    const target = await b.submit(method, { method: 'email' });
    const since = smtp.received.length;
    const codePage = await b.submit(target, { target: user.recovery });
    const passwordPage = await b.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: await mailedCode(user.recovery, since) });

    // Password managers: the account's login in the same form as the new password.
    const form = /<form\b[^>]*>([\s\S]*?)<\/form>/.exec(passwordPage.html)![1];
    const username = [...form.matchAll(/<input\b([^>]*)>/g)].find((m) => attr(m[1], 'autocomplete') === 'username');
    assert.ok(username, 'a username field in the new-password form');
    assert.equal(attr(username[1], 'value'), user.login);
    assert.ok(/\breadonly\b/.test(username[1]) || attr(username[1], 'type') === 'hidden');
    assert.equal([...form.matchAll(/autocomplete="new-password"/g)].length, 2);

    const noticesFrom = smtp.received.length;
    const back = await b.submit(passwordPage, { new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD });
    // The "password changed" notice gives its time in the configured zone (Europe/Amsterdam), named.
    let notice = '';
    await waitFor(() => {
      const m = smtp.received.slice(noticesFrom).find((r) => r.to.includes(user.recovery) && /was changed/.test(r.headers.subject ?? ''));
      if (m) notice = m.text;
      return m !== undefined;
    });
    assert.match(notice, /changed on \d{1,2} \w+ \d{4} at \d{2}:\d{2} (CET|CEST)\./);
    assert.match(back.url, /\/interaction\/[\w-]+\?reset=done$/);
    assert.equal(attr(input(back.html, 'login'), 'value'), user.login, 'back on sign-in with the name filled in');
    for (const h of b.history) assert.ok(!h.includes(encodeURIComponent(user.login)) && !h.includes(user.login), `no login in ${h}`);
    const done = await consentIfAsked(b, await signIn(b, back, user.login, NEW_PASSWORD));
    await rp.finish(done.redirectedTo!, verifier, state);
  });

  it('a finished sign-in is not "took too long": Back to it says it is complete, with a link to the app', async () => {
    const user = await userWithEmail();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const { page } = await rp.start(b);
    const loginUrl = page.url;
    const done = await consentIfAsked(b, await signIn(b, page, user.login, user.password));
    assert.ok(done.redirectedTo);
    const again = await b.get(loginUrl);
    assert.deepEqual(messageIds(again.html), []);
    assert.match(again.html, /data-error-code="interaction_finished"/);
    assert.match(again.html, /This sign-in is already complete\. Return to Expense Tracker/);
    assert.match(again.html, /<a href="https:\/\/expenses\.example\.org\/" class="way-on">Back to Expense Tracker<\/a>/);
    assert.doesNotMatch(again.html, /took too long/);

    // A stranger's browser (no marker) still gets "expired": the marker is this browser's, MAC'd.
    const stranger = new Browser();
    stranger.cookies = b.cookies.filter((c) => c.name !== 'oidc_sspr_ended');
    assert.match((await stranger.get(loginUrl)).html, /data-error-code="session_expired"/);
    const forged = new Browser();
    forged.cookies = b.cookies.map((c) => (c.name === 'oidc_sspr_ended' ? { ...c, value: c.value.replace(/^finished/, 'cancelled') } : c));
    assert.match((await forged.get(loginUrl)).html, /data-error-code="session_expired"/);
  });

  it('the sign-in POST answers 303 to the provider with an empty body, and the "ended" marker is an HttpOnly, SameSite=Lax cookie of that interaction only, for the interaction lifetime', async () => {
    const user = await userWithEmail();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const { page } = await rp.start(b);
    const uid = new URL(page.url).pathname.split('/')[2]!;
    const form = findForm(page.html);
    const fields = { ...form.hidden, [inputByAutocomplete(page.html, 'username')]: user.login, [inputByAutocomplete(page.html, 'current-password')]: user.password };
    const before = Date.now();
    const answer = await b.request(new URL(form.action, page.url).toString(), { body: new URLSearchParams(fields).toString() });
    assert.equal(answer.status, 303);
    assert.equal(answer.headers.get('location'), `${srv.issuer}/auth/${uid}`);
    assert.equal(answer.html, '');
    const ended = answer.headers.getSetCookie().filter((c) => c.startsWith('oidc_sspr_ended='));
    assert.equal(ended.length, 1, answer.headers.getSetCookie().join('\n'));
    const [pair, ...attributes] = ended[0]!.split('; ');
    assert.match(pair!, /^oidc_sspr_ended=finished\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
    const expires = attributes.find((a) => a.startsWith('expires='));
    assert.deepEqual(attributes.filter((a) => a !== expires), [`path=/interaction/${uid}`, 'samesite=lax', 'httponly']);
    const lifetime = Date.parse(expires!.slice('expires='.length)) - before;
    assert.ok(lifetime > 50 * 60_000 && lifetime <= 60 * 60_000 + 1000, `expires in ${lifetime} ms`);
  });

  it('signing out names the app and offers a way back to it; after the logout POST the language links GET', async () => {
    const user = await userWithEmail();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const { page, verifier, state } = await rp.start(b);
    const done = await consentIfAsked(b, await signIn(b, page, user.login, user.password));
    const tokens = await rp.finish(done.redirectedTo!, verifier, state);
    const question = await b.get(client.buildEndSessionUrl(rp.config, { id_token_hint: tokens.id_token! }).toString());
    assert.match(question.html, /name="logout" value="yes"/);
    // "No, stay signed in" ends the app's session only: the page names the app and links back to it.
    const out = await b.submit(question, {});
    assert.equal(out.status, 200);
    assert.match(out.html, /You have been signed out of Expense Tracker\./);
    assert.match(out.html, /<a href="https:\/\/expenses\.example\.org\/" class="way-on">Back to Expense Tracker<\/a>/);
    const nl = await b.get(new URL(languageLink(out.html, 'nl'), srv.issuer).toString());
    assert.ok(nl.status < 500 && nl.status !== 404, `${nl.status} ${nl.url}`);
    assert.match(nl.html, /<html lang="nl">/);
    // Signed out everywhere (oidc-provider names no app then): the page says what to do next.
    const again = await rp.start(b);
    // Still signed in at the provider: straight to the consent page.
    const done2 = await consentIfAsked(b, again.page);
    const tokens2 = await rp.finish(done2.redirectedTo!, again.verifier, again.state);
    const question2 = await b.get(client.buildEndSessionUrl(rp.config, { id_token_hint: tokens2.id_token! }).toString());
    const everywhere = await b.submit(question2, { logout: 'yes' });
    // (In Dutch now: the language picked above is remembered.)
    assert.match(everywhere.html, /U bent afgemeld\.[\s\S]*U kunt dit tabblad nu sluiten\./);
  });

  it('a cancelled sign-in says so when the user comes back to it (nl)', async () => {
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    b.acceptLanguage = 'nl';
    const { page } = await rp.start(b);
    const cancelled = await b.get(new URL(link(page.html, 'cancel'), srv.issuer).toString());
    assert.match(cancelled.redirectedTo ?? '', /error=access_denied/);
    const again = await b.get(page.url);
    assert.match(again.html, /data-error-code="interaction_cancelled"/);
    assert.match(again.html, /U hebt het aanmelden geannuleerd\. Ga terug naar Expense Tracker/);
  });

  it('reset code page: reload after a wrong code guesses nothing; replaced vs wrong vs expired; "send a new code"; the helpdesk as a mailto link', async () => {
    const user = await userWithEmail();
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const method = await b.submit(start, { login: user.login });
    const target = await b.submit(method, { method: 'email' });
    let since = smtp.received.length;
    const codePage = await b.submit(target, { target: user.recovery });
    const first = await mailedCode(user.recovery, since);
    assert.match(codePage.html, /<a href="mailto:servicedesk@example\.org" id="helpdesk">Didn&#39;t get a code\? Contact your helpdesk<\/a>/);
    const flowId = b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];

    let wrong = '000000';
    while (wrong === first) wrong = '000001';
    const refused = await b.submit(codePage, { code: wrong });
    assert.match(refused.url, /\/reset\/code$/);
    assertFieldError(refused.html, 'code', 'errors:sspr.code_invalid');
    await b.get(refused.url);
    await b.get(refused.url);
    assert.equal(await codeFailures(flowId), 1, 'reloading the error page posted nothing');

    // "Send a new code": a form post; the older code now reads as replaced.
    since = smtp.received.length;
    const resent = await b.submit(refused, {}, { actionPart: '/code/resend' });
    assert.match(resent.url, /\/reset\/code$/);
    assert.ok(messageIds(resent.html).includes('reset:code.resent'));
    const second = await mailedCode(user.recovery, since);
    assert.notEqual(second, first);
    const stale = await b.submit(resent, { code: first });
    assertFieldError(stale.html, 'code', 'errors:sspr.code_replaced');

    // Expired: its own message (the code page offers a new code).
    clock.advance('11m');
    const late = await b.submit(stale, { code: second });
    assertFieldError(late.html, 'code', 'errors:sspr.code_expired');
    assert.match(late.html, /id="resend-code"/);
  });

  it('"send a new code" is throttled like any send and the block says when it ends, in the configured time zone', async () => {
    const user = await userWithEmail();
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const target = await b.submit(await b.submit(start, { login: user.login }), { method: 'email' });
    let page = await b.submit(target, { target: user.recovery });
    for (let i = 0; i < 2; i++) page = await b.submit(page, {}, { actionPart: '/code/resend' });
    const blocked = await b.submit(page, {}, { actionPart: '/code/resend' });
    assert.equal(blocked.status, 429);
    assert.ok(messageIds(blocked.html).includes('errors:sspr.throttled_until'), messageIds(blocked.html).join());
    assert.match(blocked.html, /paused until \d{1,2} \w+ \d{4} at \d{2}:\d{2} (CET|CEST)/);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
  });

  it('an unknown identifier sees the same code page with "send a new code"', async () => {
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const target = await b.submit(await b.submit(start, { login: unique('nobody') }), { method: 'email' });
    const codePage = await b.submit(target, { target: 'someone@example.net' });
    assert.match(codePage.html, /id="resend-code"/);
    const resent = await b.submit(codePage, {}, { actionPart: '/code/resend' });
    assert.ok(messageIds(resent.html).includes('reset:code.resent'));
  });

  for (const lang of ['en', 'nl'] as const) {
    it(`${lang}: a phone number the reset cannot use names the format (+31 6 12345678) and the allowed countries`, async () => {
      const b = new Browser();
      b.acceptLanguage = lang;
      const start = await b.get(`${srv.issuer}/reset`);
      const target = await b.submit(await b.submit(start, { login: unique('phoner') }), { method: 'sms' });
      assert.match(target.html, /\+31 6 12345678/, 'the format is shown before typing, too');
      let refused = target;
      for (const typed of ['12', '+49 1512 3456789']) {
        refused = await b.submit(target, { target: typed });
        assertFieldError(refused.html, 'target', 'errors:sspr.phone_invalid');
        assert.match(refused.html, /\+31 6 12345678/);
        assert.match(refused.html, lang === 'en' ? /Netherlands and Belgium/ : /Nederland en België/);
      }
      // After the error the language links still GET the reset in progress.
      const other = lang === 'en' ? 'nl' : 'en';
      const switched = await b.get(new URL(languageLink(refused.html, other), srv.issuer).toString());
      assert.equal(switched.status, 200);
      assert.match(switched.url, /\/reset\/target\?lang=/);
      assert.match(switched.html, new RegExp(`<html lang="${other}">`));
      assert.match(switched.html, /type="tel" autocomplete="tel"/);
    });
  }

  it('after a failed reset post, the language links and the form addresses answer GET with the step in progress', async () => {
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const empty = await b.submit(start, { login: '' });
    assertFieldError(empty.html, 'login', 'errors:sspr.identifier_required');
    const method = await b.submit(empty, { login: unique('someone') });
    const codeAction = await b.get(`${srv.issuer}/reset/code/resend?lang=nl`);
    assert.equal(codeAction.status, 200);
    assert.match(codeAction.url, /\/reset\/method\?lang=nl$/);
    assert.match(codeAction.html, /<html lang="nl">/);
    assert.ok(method);
  });

  it('the stand-alone reset ends on a page with a way on', async () => {
    const user = await userWithEmail();
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const target = await b.submit(await b.submit(start, { login: user.login }), { method: 'email' });
    const since = smtp.received.length;
    const codePage = await b.submit(target, { target: user.recovery });
    const pw = await b.submit(codePage, { code: await mailedCode(user.recovery, since) });
    const done = await b.submit(pw, { new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD });
    assert.match(done.url, /\/reset\/done$/);
    assert.match(done.html, /<a href="\/account\/sign-in" class="way-on" id="sign-in">Sign in<\/a>/);
  });
});
