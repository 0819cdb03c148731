import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { Browser, attr, findForm, inputByAutocomplete, link, messageIds, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startSmtpServer, waitFor, type ReceivedMail } from '../unit/delivery/helpers.ts';
import type { App } from '../../src/app.ts';
import type { MethodType } from '../../src/config/schema.ts';
import { totpSecret } from '../support/methods.ts';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
type Followed = Page & { redirectedTo?: string };

const NEW_PASSWORD = 'violet tractor lantern oboe 93';

/** Registers a verified recovery method straight in the store (no registration UI); returns the TOTP secret. */
async function addMethod(app: App, accountId: string, type: MethodType, target: string | null = null): Promise<string | null> {
  if (type === 'totp') {
    const e = await totpSecret(app);
    await app.sspr.methodRepo.saveVerified({ accountId, type, secretEnc: e.secretEnc });
    return e.secret;
  }
  await app.sspr.methodRepo.saveVerified({ accountId, type, target });
  return null;
}

const totpCode = (app: App, secret: string) => generate({ secret, epoch: Math.floor(app.clock.now().getTime() / 1000) });

/** The newest code mailed to `to` after `since` mails had arrived. */
async function mailedCode(smtp: Smtp, to: string, since: number): Promise<string> {
  let mail: ReceivedMail | undefined;
  await waitFor(() => (mail = smtp.received.slice(since).find((m) => m.to.includes(to) && CODE_RUN.test(m.text))) !== undefined);
  const codes = mail!.text.match(CODE_RUN)!;
  assert.equal(codes.length, 1, 'one run of digits: the code');
  return codes[0];
}

const submitIdentifier = (b: Browser, page: Page, login: string) => b.submit(page, { [inputByAutocomplete(page.html, 'username')]: login });
const chooseMethod = (b: Browser, page: Page, method: MethodType) => b.submit(page, { method });
const submitTarget = (b: Browser, page: Page, target: string) => b.submit(page, { target });
const submitCode = (b: Browser, page: Page, code: string) => b.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: code });
function submitPassword(b: Browser, page: Page, password: string, repeat = password) {
  const names = [...page.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
  assert.equal(names.length, 2, 'the new password twice');
  return b.submit(page, { [names[0]]: password, [names[1]]: repeat });
}

/** Page bodies with per-flow tokens and ids taken out, to compare two paths. */
const shape = (html: string) => html.replace(/name="csrf" value="[^"]+"/g, 'name="csrf"').replace(/\/interaction\/[\w-]+/g, '/interaction/X');

/** The flow id of a browser's reset cookie. */
const flowIdOf = (b: Browser) => b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];

describe('forgot password (HTTP, SQLite)', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let smtp: Smtp;
  let clock: TestClock;
  let n = 0;
  const unique = (p: string) => `${p}${++n}`;

  before(async () => {
    smtp = await startSmtpServer();
    clock = new TestClock();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: {
        delivery: { outbox_dir: join(db.dir, 'outbox'), email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
        sspr: { helpdesk: { url: 'https://help.example.org/', email: '' }, throttle: { failed_verifications: { max: 5, window_hours: 24, block_hours: 24 }, email_sends: { max: 20, window_minutes: 10, block_hours: 1 } } },
      },
    });
  });
  after(async () => { await srv?.close(); await smtp?.close(); await db?.drop(); });
  // Every test from 127.0.0.1: move past the previous test's per-IP windows and blocks.
  beforeEach(() => clock.advance('3d'));

  async function userWithEmailMethod(extra: { admin?: boolean } = {}): Promise<SeededUser & { recovery: string }> {
    const login = unique('user');
    const user = await seedUser(srv.app, { login, admin: extra.admin });
    const recovery = `${login}.recovery@example.net`;
    await addMethod(srv.app, user.id, 'email', recovery);
    return { ...user, recovery };
  }

  /** From the identifier page through one email code; returns the page after the code. */
  async function proveEmail(b: Browser, page: Page, login: string, recovery: string): Promise<Followed> {
    const method = await submitIdentifier(b, page, login);
    assert.equal(method.status, 200);
    const target = await chooseMethod(b, method, 'email');
    assert.match(target.html, /type="email" autocomplete="email"/);
    const since = smtp.received.length;
    const codePage = await submitTarget(b, target, recovery);
    assert.match(codePage.html, /autocomplete="one-time-code" inputmode="numeric"/);
    return submitCode(b, codePage, await mailedCode(smtp, recovery, since));
  }

  it('resets from the sign-in link of an openid-client request, back to sign-in, to tokens; old tokens and session are gone', async () => {
    const user = await userWithEmailMethod();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    // Signed in first: the old refresh token and session must not survive the reset.
    const first = await rp.start(b);
    const old = await rp.finish((await consentIfAsked(b, await signIn(b, first.page, user.login, user.password))).redirectedTo!, first.verifier, first.state);
    assert.ok(old.refresh_token);
    const oldSession = new Browser();
    oldSession.cookies = [...b.cookies];

    // prompt=login: the interaction points at the old session (STACK.md's trap).
    const { page, verifier, state } = await rp.start(b, { prompt: 'login consent' });
    const start = await b.get(new URL(link(page.html, 'forgot-password'), srv.issuer).toString());
    assert.equal(start.status, 200);
    assert.match(start.url, /\/interaction\/[\w-]+\/reset$/);
    assert.match(start.html, /autocomplete="username"/);
    assert.equal(start.headers.get('referrer-policy'), 'no-referrer');
    assert.equal(start.headers.get('cache-control'), 'no-store');
    assert.match(start.headers.getSetCookie().join(), /oidc_sspr_reset=.*httponly/i);

    const pwPage = await proveEmail(b, start, user.login, user.recovery);
    assert.match(pwPage.url, /\/reset\/password$/);
    const mailsBefore = smtp.received.length;
    const signInAgain = await submitPassword(b, pwPage, NEW_PASSWORD);
    assert.equal(signInAgain.status, 200, `${signInAgain.url}\n${signInAgain.html}\n${b.history.slice(-4).join('\n')}`);
    assert.deepEqual(messageIds(signInAgain.html), ['reset:done.sign_in']);
    assert.match(signInAgain.html, /autocomplete="current-password"/, 'the sign-in page of the same interaction, nobody signed in');

    // The notice, on the registered channel.
    await waitFor(() => smtp.received.slice(mailsBefore).some((m) => m.to.includes(user.recovery) && /password was changed/.test(m.headers.subject ?? '')));
    // Old refresh token, old access token and the old session: all gone.
    await assert.rejects(client.refreshTokenGrant(rp.config, old.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(rp.config, old.access_token, user.id));
    const silent = await rp.start(oldSession, { prompt: 'none' });
    assert.match(silent.page.redirectedTo ?? '', /error=login_required/);

    // The old password no longer works; the new one finishes the very same authorization request.
    const refused = await signIn(b, signInAgain, user.login, user.password);
    assert.equal(refused.status, 401);
    const done = await consentIfAsked(b, await b.submit(refused, { login: user.login, password: NEW_PASSWORD }));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `expected the client callback, got ${done.status} ${done.url}`);
    const tokens = await rp.finish(done.redirectedTo!, verifier, state);
    assert.equal(tokens.claims()!.sub, user.id);

    const events = await srv.app.audit.query({ targetAccountId: user.id, activity: 'sspr.reset.*' });
    // One event per step (the test clock stands still, so compare without order).
    assert.deepEqual(events.map((e) => e.activity).sort(), ['sspr.reset.code_sent', 'sspr.reset.completed', 'sspr.reset.method_verified', 'sspr.reset.started']);
    assert.equal(new Set(events.map((e) => e.correlation_id)).size, 1, 'one correlation id: the flow');
    assert.doesNotMatch(JSON.stringify(events), new RegExp(`${user.recovery}|${NEW_PASSWORD}`), 'no address or secret in the audit log');
  });

  it('stand-alone: an admin needs two different methods; one is refused, email + authenticator pass; other admins are told', async () => {
    const admin = await userWithEmailMethod({ admin: true });
    const secret = (await addMethod(srv.app, admin.id, 'totp'))!;
    const other = await userWithEmailMethod({ admin: true });
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    assert.doesNotMatch(start.html, /\/interaction\//);
    const second = await proveEmail(b, start, admin.login, admin.recovery);
    assert.match(second.url, /\/reset\/method$/, 'one method is not enough for an admin');
    assert.doesNotMatch(second.html, /value="email"/, 'the second method is of another type');

    // Posting the password now is refused: the flow is not there.
    const early = await b.request(`${srv.issuer}/reset/password`, { body: new URLSearchParams({ csrf: findForm(second.html).hidden.csrf, new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD }).toString() });
    assert.equal(early.status, 400);
    assert.match(early.html, /data-error-code="flow_invalid"/);
    assert.equal(await srv.app.directory.verifyPassword(admin.id, admin.password), true, 'password unchanged');

    const codePage = await chooseMethod(b, second, 'totp');
    const pw = await submitCode(b, codePage, await totpCode(srv.app, secret));
    assert.match(pw.url, /\/reset\/password$/);
    const since = smtp.received.length;
    const done = await submitPassword(b, pw, NEW_PASSWORD);
    assert.equal(done.status, 200);
    assert.match(done.url, /\/reset\/done$/);
    assert.equal(await srv.app.directory.verifyPassword(admin.id, NEW_PASSWORD), true);
    await waitFor(() => smtp.received.slice(since).some((m) => m.to.includes(other.recovery) && /administrator's password/.test(m.headers.subject ?? '')));
    assert.ok(!smtp.received.slice(since).some((m) => m.to.includes(admin.recovery) && /administrator's password/.test(m.headers.subject ?? '')), 'not to the admin who reset');
  });

  it('unknown, disabled, unregistered and real ids: same statuses, same pages, same work; only the real one gets a code', async () => {
    const real = await userWithEmailMethod();
    const disabled = await userWithEmailMethod();
    await srv.app.store.models.Account.update({ disabled: true }, { where: { id: disabled.id } });
    const bare = await seedUser(srv.app, { login: unique('bare') });
    const cases = [
      { login: real.login, recovery: real.recovery },
      { login: unique('nobody'), recovery: real.recovery },
      { login: disabled.login, recovery: disabled.recovery },
      { login: bare.login, recovery: real.recovery },
    ];
    const { OneTimeCode, Delivery } = srv.app.store.models;
    const runs: Array<{ statuses: number[]; pages: string[]; codes: number }> = [];
    for (const c of cases) {
      const b = new Browser();
      const start = await b.get(`${srv.issuer}/reset`);
      const method = await submitIdentifier(b, start, c.login);
      const target = await chooseMethod(b, method, 'email');
      // Same-length addresses, so the masked echo on the code page has the same shape.
      const code = await submitTarget(b, target, c.recovery);
      const wrong = await submitCode(b, code, '000000');
      const flowId = flowIdOf(b);
      runs.push({
        statuses: [start.status, method.status, target.status, code.status, wrong.status],
        pages: [start, method, target, code, wrong].map((p) => shape(p.html)),
        codes: await OneTimeCode.count({ where: { flowId } }),
      });
      assert.deepEqual(messageIds(wrong.html), ['errors:sspr.code_invalid']);
      assert.match(code.html, /Didn&#39;t get a code\? Contact your helpdesk|Didn't get a code\? Contact your helpdesk/);
    }
    assert.equal(runs[0].codes, 1);
    for (const r of runs.slice(1)) {
      assert.deepEqual(r.statuses, runs[0].statuses);
      // The code page echoes the typed address masked (`u•••@example.net`): the same shape here.
      assert.deepEqual(r.pages, runs[0].pages);
      assert.equal(r.codes, 1, 'a code is issued for every path');
    }
    assert.equal(await Delivery.count({ where: { recipient: real.recovery } }), 1, 'only the real account gets a message');
    assert.equal(await Delivery.count({ where: { recipient: disabled.recovery } }), 0);
  });

  it('refuses skipped steps, a replayed code, a finished flow and another browser\'s flow id', async () => {
    const user = await userWithEmailMethod();
    const b = new Browser();
    const start = await b.get(`${srv.issuer}/reset`);
    const csrf = findForm(start.html).hidden.csrf;
    const skip = await b.request(`${srv.issuer}/reset/code`, { body: new URLSearchParams({ csrf, code: '123456' }).toString() });
    assert.equal(skip.status, 400);
    assert.match(skip.html, /data-error-code="flow_invalid"/);

    const method = await submitIdentifier(b, start, user.login);
    const target = await chooseMethod(b, method, 'email');
    const since = smtp.received.length;
    const codePage = await submitTarget(b, target, user.recovery);
    const code = await mailedCode(smtp, user.recovery, since);

    // Another browser with this flow's id but not its secret.
    const thief = new Browser();
    await thief.get(`${srv.issuer}/reset`);
    const own = thief.cookies.find((c) => c.name === 'oidc_sspr_reset')!;
    own.value = `${flowIdOf(b)}.${own.value.split('.')[1]}`;
    const stolen = await thief.request(`${srv.issuer}/reset/code`, { body: new URLSearchParams({ csrf: findForm(codePage.html).hidden.csrf, code }).toString() });
    assert.equal(stolen.status, 400);
    assert.match(stolen.html, /data-error-code="flow_invalid"/);

    const pw = await submitCode(b, codePage, code);
    assert.match(pw.url, /\/reset\/password$/);
    const replay = await b.request(`${srv.issuer}/reset/code`, { body: new URLSearchParams({ csrf: findForm(codePage.html).hidden.csrf, code }).toString() });
    assert.equal(replay.status, 400, 'a used code does not work twice');

    const kept = b.cookies.map((c) => ({ ...c }));
    const done = await submitPassword(b, pw, NEW_PASSWORD);
    assert.match(done.url, /\/reset\/done$/);
    b.cookies = kept; // the finished flow's cookie, replayed
    const again = await b.request(`${srv.issuer}/reset/password`, { body: new URLSearchParams({ csrf: findForm(pw.html).hidden.csrf, new_password: 'another fine password 77', confirm_password: 'another fine password 77' }).toString() });
    assert.equal(again.status, 400);
    assert.match(again.html, /data-error-code="flow_invalid"/);
    assert.equal(await srv.app.directory.verifyPassword(user.id, NEW_PASSWORD), true);

    const noCsrf = await b.request(`${srv.issuer}/reset/password`, { body: new URLSearchParams({ new_password: 'x', confirm_password: 'x' }).toString() });
    assert.equal(noCsrf.status, 403);
  });

  it('refuses weak, banned, too long, mismatched, login-based and current passwords with a reason', async () => {
    const user = await userWithEmailMethod();
    const b = new Browser();
    const pw = await proveEmail(b, await b.get(`${srv.issuer}/reset`), user.login, user.recovery);
    const cases: Array<[string, string, string]> = [
      ['short', 'short', 'errors:sspr.password.too_short'],
      ['aaaaaaaaaaaaaaaa', 'aaaaaaaaaaaaaaaa', 'errors:sspr.password.too_weak'],
      ['password12345678', 'password12345678', 'errors:sspr.password.banned'],
      ['x'.repeat(129), 'x'.repeat(129), 'errors:sspr.password.too_long'],
      [NEW_PASSWORD, `${NEW_PASSWORD}!`, 'errors:sspr.password.mismatch'],
      [`${user.login} lantern oboe 93`, `${user.login} lantern oboe 93`, 'errors:sspr.password.contains_login'],
      [user.password, user.password, 'errors:sspr.password.same_as_current'],
    ];
    for (const [password, repeat, id] of cases) {
      const page = await submitPassword(b, pw, password, repeat);
      assert.equal(page.status, 400, id);
      assert.ok(messageIds(page.html).includes(id), `${id} in ${messageIds(page.html).join(', ')}`);
      assert.match(page.html, /role="alert"/);
    }
    assert.equal(await srv.app.directory.verifyPassword(user.id, user.password), true, 'unchanged');
  });

  it('blocks the identifier\'s self-service reset after the configured wrong codes, and releases it when the clock moves', async () => {
    const user = await userWithEmailMethod();
    const b = new Browser();
    const method = await submitIdentifier(b, await b.get(`${srv.issuer}/reset`), user.login);
    const codePage = await submitTarget(b, await chooseMethod(b, method, 'email'), user.recovery);
    let page: Followed = codePage;
    for (let i = 0; i < srv.config.sspr.throttle.failed_verifications.max; i++) {
      page = await submitCode(b, page, '000000');
      // The code's own guess limit (too_many_attempts) may come first; the block comes after.
      assert.ok(['errors:sspr.code_invalid', 'errors:sspr.too_many_attempts'].includes(messageIds(page.html)[0]), messageIds(page.html).join());
    }
    const blocked = await submitCode(b, page, '000000');
    assert.equal(blocked.status, 429);
    assert.deepEqual(messageIds(blocked.html), ['errors:sspr.throttled_until']);
    assert.ok(Number(blocked.headers.get('retry-after')) > 0);
    const events = await srv.app.audit.query({ activity: 'sspr.reset.blocked', targetAccountId: user.id });
    assert.equal(events.length, 1);

    // A new flow for the same identifier is blocked too; the password sign-in is not.
    const b2 = new Browser();
    const again = await b2.get(`${srv.issuer}/reset`);
    const refused = await submitIdentifier(b2, again, user.login);
    assert.equal(refused.status, 429);
    assert.match(refused.html, /autocomplete="username"/, 'still the first page');

    clock.advance('25h');
    const b3 = new Browser();
    const released = await submitIdentifier(b3, await b3.get(`${srv.issuer}/reset`), user.login);
    assert.equal(released.status, 200);
    assert.match(released.url, /\/reset\/method$/);
  });

  it('caps email codes per identifier and releases after the block', async () => {
    const user = await userWithEmailMethod();
    const b = new Browser();
    let page: Followed = await submitIdentifier(b, await b.get(`${srv.issuer}/reset`), user.login);
    const max = srv.config.sspr.throttle.email_sends.max;
    for (let i = 0; i < max; i++) {
      page = await submitTarget(b, await chooseMethod(b, await b.get(`${srv.issuer}/reset/method`), 'email'), `someone${i}@example.net`);
      assert.equal(page.status, 200);
    }
    const over = await submitTarget(b, await chooseMethod(b, await b.get(`${srv.issuer}/reset/method`), 'email'), user.recovery);
    assert.equal(over.status, 429);
    clock.advance('61m');
    const b2 = new Browser();
    const code = await submitTarget(b2, await chooseMethod(b2, await submitIdentifier(b2, await b2.get(`${srv.issuer}/reset`), user.login), 'email'), user.recovery);
    assert.equal(code.status, 200);
    assert.match(code.url, /\/reset\/code$/);
  });

  it('an expired flow starts again with a message; the pages are in Dutch on request', async () => {
    const b = new Browser();
    b.acceptLanguage = 'nl';
    const start = await b.get(`${srv.issuer}/reset`);
    assert.match(start.html, /<html lang="nl">/);
    const method = await submitIdentifier(b, start, 'whoever');
    assert.match(method.html, />\s*E-mail<\/label>/);
    assert.match(method.html, />\s*Sms<\/label>/);
    assert.match(method.html, />\s*Authenticator-app<\/label>/);
    clock.advance('16m');
    const target = await chooseMethod(b, method, 'email');
    assert.equal(target.status, 200);
    assert.match(target.url, /\/reset\?expired=1$/);
    assert.deepEqual(messageIds(target.html), ['errors:sspr.flow_expired']);
  });
});
