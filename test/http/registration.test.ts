import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { ConfigInput } from '../../src/config/schema.ts';
import { Browser, attr, findForm, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startGateway, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import { typedMethods } from '../support/methods.ts';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
type Gateway = Awaited<ReturnType<typeof startGateway>>;
type Landed = Page & { redirectedTo?: string };

/** Real SMTP server and SMS gateway on local ports; one server per policy under test. */
interface Env { db: TestDatabase; srv: TestServer; smtp: Smtp; gateway: Gateway; clock: TestClock; rp: RelyingParty }

async function startEnv(sspr: NonNullable<ConfigInput['sspr']>, clock = new TestClock()): Promise<Env> {
  const smtp = await startSmtpServer();
  const gateway = await startGateway();
  const db = createSqliteDatabase();
  const srv = await startTestServer({
    database: db.url,
    clock,
    overrides: {
      sspr,
      delivery: {
        outbox_dir: `${db.dir}/outbox`,
        email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
        sms: { transport: 'http', http: { url: gateway.url } },
      },
    },
  });
  return { db, srv, smtp, gateway, clock, rp: await relyingParty(srv.issuer) };
}

async function stopEnv(env: Env | undefined): Promise<void> {
  if (!env) return;
  await env.srv.close();
  await env.smtp.close();
  await env.gateway.close();
  await env.db.drop();
}

/** The newest code mailed to `to` (waits for the delivery worker). */
async function mailedCode(env: Env, to: string, after = 0): Promise<string> {
  const mine = () => env.smtp.received.filter((m) => m.to.includes(to));
  await waitFor(() => mine().length > after);
  const codes = mine().at(-1)!.text.match(CODE_RUN);
  assert.equal(codes?.length, 1, 'a code mail carries exactly one run of digits');
  return codes![0];
}

async function textedCode(env: Env, to: string, after = 0): Promise<string> {
  const mine = () => env.gateway.requests.map((r) => JSON.parse(r.body) as { to: string; text: string }).filter((r) => r.to === to);
  await waitFor(() => mine().length > after);
  return mine().at(-1)!.text.match(CODE_RUN)![0];
}

/** The href of the link to `href` (an exact address), as a user would follow it. */
function link(html: string, href: string): string {
  const found = [...html.matchAll(/<a\b([^>]*)>/g)].map((m) => attr(m[1], 'href')).find((h) => h === href);
  if (!found) throw new Error(`no link to ${href}`);
  return found;
}

const wrong = (code: string) => [...code].map((d) => String((Number(d) + 1) % 10)).join('');

function assertRegisterPage(page: Landed, step = ''): void {
  assert.equal(page.status, 200, `expected a registration page, got ${page.status} ${page.url}: ${page.html.slice(0, 800)}`);
  assert.match(page.url, new RegExp(`/interaction/[^/]+/register${step}`), `expected the registration page, got ${page.url}`);
}

/** Picks a method on the choose page. */
function choose(browser: Browser, page: Page, method: 'email' | 'sms' | 'totp') {
  assert.match(page.html, new RegExp(`type="radio"[^>]*name="method" value="${method}"`));
  return browser.submit(page, { method }, { actionPart: '/method' });
}

/** Registers an email method on the current choose page; returns the page after Verify. */
async function registerEmail(env: Env, browser: Browser, page: Page, address: string): Promise<Landed> {
  const target = await choose(browser, page, 'email');
  const before = env.smtp.received.filter((m) => m.to.includes(address)).length;
  const codePage = await browser.submit(target, { [inputByAutocomplete(target.html, 'email')]: address }, { actionPart: '/target' });
  assert.match(codePage.html, /autocomplete="one-time-code" inputmode="numeric"/);
  const code = await mailedCode(env, address, before);
  return browser.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: code }, { actionPart: '/verify' });
}

async function registerSms(env: Env, browser: Browser, page: Page, typed: string, e164: string): Promise<Landed> {
  const target = await choose(browser, page, 'sms');
  assert.match(target.html, /type="tel" autocomplete="tel"/);
  const before = env.gateway.requests.length;
  const codePage = await browser.submit(target, { [inputByAutocomplete(target.html, 'tel')]: typed }, { actionPart: '/target' });
  const code = await textedCode(env, e164, env.gateway.requests.slice(0, before).filter((r) => r.body.includes(e164)).length);
  return browser.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: code }, { actionPart: '/verify' });
}

/** Finish → consent → back at the client with tokens. */
async function finishAndGetTokens(env: Env, browser: Browser, page: Page, verifier: string, state: string, action = '/finish') {
  const done = await consentIfAsked(browser, await browser.submit(page, {}, { actionPart: action }));
  assert.ok(done.redirectedTo?.startsWith(env.rp.redirectUri), `expected a redirect to the client, got ${done.status} ${done.url}: ${done.html.slice(0, 500)}`);
  return env.rp.finish(done.redirectedTo!, verifier, state);
}

async function signInFresh(env: Env, user: SeededUser, browser = new Browser()) {
  const { page, verifier, state } = await env.rp.start(browser);
  const landed = await signIn(browser, page, user.login, user.password);
  return { browser, landed, verifier, state };
}

async function auditActivities(env: Env, accountId: string): Promise<string[]> {
  return (await env.srv.app.audit.query({ targetAccountId: accountId })).map((e) => `${e.activity}:${e.result}`);
}

describe('registration of recovery methods at sign-in (HTTP)', function () {
  describe('everyone in scope, two methods required', () => {
    let env: Env;
    // Six wrong codes per account: enough to see a code's own limit (5 guesses) before the block.
    before(async () => { env = await startEnv({ enabled_for: 'all', methods_required: 2, throttle: { failed_verifications: { max: 6, window_hours: 24, block_hours: 24 } } }); });
    after(() => stopEnv(env));

    it('interrupts a fresh sign-in; the user registers email and SMS, then Finish goes on to the client with tokens', async () => {
      const user = await seedUser(env.srv.app, { login: 'erin', phone: '+31612345670' });
      const { browser, landed, verifier, state } = await signInFresh(env, user);
      assertRegisterPage(landed);
      assert.match(landed.html, /<label for="method-email">/);
      assert.match(landed.html, /Authenticator app/);
      assert.doesNotMatch(landed.html, /\/finish"/, 'no Finish before two methods');

      const afterEmail = await registerEmail(env, browser, landed, 'erin@example.org');
      assertRegisterPage(afterEmail);
      assert.ok(messageIds(afterEmail.html).includes('registration:added'));
      assert.doesNotMatch(afterEmail.html, /\/finish"/, 'still one method short');
      assert.match(afterEmail.html, /e•••@example\.org/);

      const afterSms = await registerSms(env, browser, afterEmail, '06 12345670', '+31612345670');
      assertRegisterPage(afterSms);
      assert.match(afterSms.html, />Finish</);

      const tokens = await finishAndGetTokens(env, browser, afterSms, verifier, state);
      assert.equal(tokens.claims()!.sub, user.id);

      const methods = await env.srv.app.sspr.methodRepo.listVerified(user.id);
      assert.deepEqual(methods.map((m) => [m.type, m.target]), [['email', 'erin@example.org'], ['sms', '+31612345670']]);
      const row = await env.srv.app.store.models.Account.findByPk(user.id);
      assert.equal(row!.emailVerified, true, 'the profile address was proven');
      assert.equal(row!.phoneVerified, true, 'the profile number was proven');
      const events = await auditActivities(env, user.id);
      assert.ok(events.includes('sspr.registration.started:info'));
      assert.equal(events.filter((e) => e === 'sspr.registration.method_verified:success').length, 2);
      assert.ok(events.includes('sspr.registration.completed:success'));
      const details = JSON.stringify(await env.srv.app.audit.query({ targetAccountId: user.id }));
      assert.doesNotMatch(details, /erin@example|612345670/, 'no address or number in the audit log');

      // Adding SMS told the already registered email address.
      await waitFor(() => env.smtp.received.some((m) => m.to.includes('erin@example.org') && /recovery method/i.test(m.headers.subject ?? '')));
    });

    it('interrupts a user who already has a session at the next authorization request, without a password', async () => {
      const user = await seedUser(env.srv.app, { login: 'sam' });
      const repo = env.srv.app.sspr.methodRepo;
      await repo.saveVerified({ accountId: user.id, type: 'email', target: 'sam@example.org' });
      await repo.saveVerified({ accountId: user.id, type: 'sms', target: '+31612345671' });
      const { browser, landed, verifier, state } = await signInFresh(env, user);
      const done = await consentIfAsked(browser, landed);
      assert.ok(done.redirectedTo, 'registered users are not interrupted');
      await env.rp.finish(done.redirectedTo!, verifier, state);

      // An admin forgets the SMS method: the session stays, the next request is interrupted.
      const sms = (await repo.listVerified(user.id)).find((m) => m.type === 'sms')!;
      await repo.remove(user.id, sms.id);
      const again = await env.rp.start(browser);
      assertRegisterPage(again.page);
      assert.doesNotMatch(again.page.html, /current-password/);
      assert.match(again.page.html, /s•••@example\.org/);
    });

    it('refuses wrong, expired, reused and brute-forced codes with clear messages and stores nothing unproven', async () => {
      const user = await seedUser(env.srv.app, { login: 'walt' });
      const { browser, landed } = await signInFresh(env, user);
      const target = await choose(browser, landed, 'email');
      const codePage = await browser.submit(target, { email: 'walt@example.org' }, { actionPart: '/target' });
      const code = await mailedCode(env, 'walt@example.org');
      const codeField = inputByAutocomplete(codePage.html, 'one-time-code');

      const bad = await browser.submit(codePage, { [codeField]: wrong(code) }, { actionPart: '/verify' });
      assert.equal(bad.status, 400);
      assert.deepEqual(messageIds(bad.html), ['errors:sspr.code_invalid']);
      assert.match(bad.html, /role="alert"/);

      env.clock.advance('11m');
      const expired = await browser.submit(bad, { [codeField]: code }, { actionPart: '/verify' });
      assert.deepEqual(messageIds(expired.html), ['errors:sspr.code_expired']);

      // A new code; the old one no longer works.
      const resent = await browser.submit(expired, { action: 'resend' }, { actionPart: '/verify' });
      const fresh = await mailedCode(env, 'walt@example.org', 1);
      assert.notEqual(fresh, code);
      const old = await browser.submit(resent, { [codeField]: code }, { actionPart: '/verify' });
      assert.deepEqual(messageIds(old.html), ['errors:sspr.code_invalid']);

      // Brute force: the code's guesses run out (5 per code), then the account is throttled.
      let page: Landed = old;
      const ids: string[] = [];
      for (let i = 0; i < 4; i++) { // wrong codes 3..6 of this account, guesses 2..5 of this code
        page = await browser.submit(page, { [codeField]: wrong(fresh) }, { actionPart: '/verify' });
        ids.push(...messageIds(page.html));
      }
      assert.deepEqual(ids, ['errors:sspr.code_invalid', 'errors:sspr.code_invalid', 'errors:sspr.code_invalid', 'errors:sspr.too_many_attempts']);
      const right = await browser.submit(page, { [codeField]: fresh }, { actionPart: '/verify' });
      assert.equal(right.status, 429);
      assert.deepEqual(messageIds(right.html), ['registration:errors.throttled_until']);
      assert.ok(Number(right.headers.get('retry-after')) > 0);
      const again = await browser.submit(right, { action: 'resend' }, { actionPart: '/verify' });
      assert.deepEqual(messageIds(again.html), ['registration:errors.throttled_until'], 'no fresh codes while blocked');

      assert.deepEqual(await env.srv.app.sspr.methodRepo.listVerified(user.id), []);
      const events = await auditActivities(env, user.id);
      assert.ok(!events.includes('sspr.registration.method_verified:success'));
      assert.ok(events.includes('sspr.registration.method_verified:failure'));
    });

    it('refuses a replayed verify form (a used code) and a forged form', async () => {
      const user = await seedUser(env.srv.app, { login: 'rita' });
      const { browser, landed } = await signInFresh(env, user);
      const target = await choose(browser, landed, 'email');
      const codePage = await browser.submit(target, { email: 'rita@example.org' }, { actionPart: '/target' });
      const code = await mailedCode(env, 'rita@example.org');
      const ok = await browser.submit(codePage, { code }, { actionPart: '/verify' });
      assert.ok(messageIds(ok.html).includes('registration:added'));
      const replay = await browser.submit(codePage, { code }, { actionPart: '/verify' });
      assert.equal(replay.status, 400);
      assert.deepEqual(messageIds(replay.html), ['registration:errors.flow_invalid']);
      assert.equal((await env.srv.app.sspr.methodRepo.listVerified(user.id)).length, 1);

      const forged = await browser.submit(ok, { method: 'sms', csrf: 'x'.repeat(43) }, { actionPart: '/method' });
      assert.equal(forged.status, 403);
    });

    it('refuses an SMS number outside allowed_countries before anything is sent', async () => {
      const user = await seedUser(env.srv.app, { login: 'ursula' });
      const { browser, landed } = await signInFresh(env, user);
      const target = await choose(browser, landed, 'sms');
      const sent = env.gateway.requests.length;
      const refused = await browser.submit(target, { phone: '+1 202 555 0123' }, { actionPart: '/target' });
      assert.equal(refused.status, 400);
      assert.deepEqual(messageIds(refused.html), ['registration:errors.phone_country']);
      // It names the format and the countries SMS may go to, next to the field.
      assert.match(refused.html, /like \+31 6 12345678/);
      assert.match(refused.html, /Netherlands, Belgium,? and Germany/);
      assert.match(refused.html, /id="phone"[^>]* aria-invalid="true" aria-describedby="phone-error target-hint"/);
      assert.match(refused.html, /value="\+1 202 555 0123"/, 'the form keeps what was typed');
      assert.equal(env.gateway.requests.length, sent);
    });
  });

  describe('one method, authenticator app', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'all', methods_required: 1, reconfirm_after_days: 180 }); });
    after(() => stopEnv(env));

    it('registers TOTP with a code computed by otplib and ends with tokens; the app code cannot be replayed', async () => {
      const user = await seedUser(env.srv.app, { login: 'tom' });
      const { browser, landed, verifier, state } = await signInFresh(env, user);
      const totpPage = await choose(browser, landed, 'totp');
      assertRegisterPage(totpPage);
      assert.match(totpPage.html, /<img src="data:image\/svg\+xml;base64,[^"]+" width="192" height="192" alt="QR code to scan with your authenticator app"/);
      const uri = /href="(otpauth:\/\/totp\/[^"]+)"/.exec(totpPage.html)![1].replace(/&amp;/g, '&');
      const secret = /id="totp-secret">([\s\S]*?)<\/code>/.exec(totpPage.html)![1].replace(/<[^>]+>/g, '');
      assert.equal(new URL(uri).searchParams.get('secret'), secret);

      const code = await generate({ secret, epoch: Math.floor(env.clock.now().getTime() / 1000) });
      const wrongPage = await browser.submit(totpPage, { code: wrong(code) }, { actionPart: '/verify' });
      assert.deepEqual(messageIds(wrongPage.html), ['errors:sspr.code_invalid']);
      const verified = await browser.submit(wrongPage, { [inputByAutocomplete(wrongPage.html, 'one-time-code')]: code }, { actionPart: '/verify' });
      assertRegisterPage(verified);
      assert.match(verified.html, />Finish</);
      await finishAndGetTokens(env, browser, verified, verifier, state);

      const [method] = await env.srv.app.sspr.methodRepo.listVerified(user.id);
      assert.equal(method.type, 'totp');
      assert.ok(method.secretEnc && !method.secretEnc.includes(secret), 'the secret is stored sealed');
      await assert.rejects(typedMethods(env.srv.app.sspr.methods).totp.verify(method.secretEnc!, code, method.lastTimeStep), { code: 'code_invalid' });
    });

    it('asks "are these still right?" at the first sign-in after reconfirm_after_days', async () => {
      const user = await seedUser(env.srv.app, { login: 'rene' });
      await env.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: 'rene@example.org' });
      await env.srv.app.sspr.methodRepo.setConfirmedAt(user.id, env.clock.now());
      const { browser, landed, verifier, state } = await signInFresh(env, user);
      const first = await consentIfAsked(browser, landed);
      assert.ok(first.redirectedTo, 'not due yet');
      await env.rp.finish(first.redirectedTo!, verifier, state);

      env.clock.advance('181d');
      // The session has expired by then (the adapter reads the same clock): sign in again.
      const again = await env.rp.start(browser);
      again.page = await signIn(browser, again.page, user.login, user.password);
      assertRegisterPage(again.page);
      assert.match(again.page.html, /These are still right/);
      assert.match(again.page.html, /r•••@example\.org/);
      await finishAndGetTokens(env, browser, again.page, again.verifier, again.state, '/reconfirm');
      assert.equal((await env.srv.app.sspr.methodRepo.confirmedAt(user.id))?.getTime(), env.clock.now().getTime());
      assert.ok((await auditActivities(env, user.id)).includes('sspr.registration.reconfirmed:success'));
    });
  });

  describe('scope', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'selected', groups: ['pilot'], methods: ['email'], methods_required: 1 }); });
    after(() => stopEnv(env));

    it('speaks Dutch when the app asks for it (ui_locales)', async () => {
      const user = await seedUser(env.srv.app, { login: 'noor', groups: ['pilot'] });
      const browser = new Browser();
      const { page } = await env.rp.start(browser, { ui_locales: 'nl' });
      const landed = await signIn(browser, page, user.login, user.password);
      assertRegisterPage(landed);
      assert.match(landed.html, /<html lang="nl">/);
      assert.match(landed.html, /> E-mail<\/label>/);
      assert.match(landed.html, />Volgende</);
      const target = await choose(browser, landed, 'email');
      const code = await browser.submit(target, { email: 'noor@example.org' }, { actionPart: '/target' });
      assert.match(code.html, />Verifiëren</);
      const mail = await mailedCode(env, 'noor@example.org');
      const done = await browser.submit(code, { code: mail }, { actionPart: '/verify' });
      assert.match(done.html, />Voltooien</);
      assert.match(env.smtp.received.at(-1)!.headers.subject ?? '', /code|verificatie/i);
    });

    it('does not interrupt a user outside the selected groups', async () => {
      const user = await seedUser(env.srv.app, { login: 'olga' });
      const { browser, landed } = await signInFresh(env, user);
      const done = await consentIfAsked(browser, landed);
      assert.ok(done.redirectedTo?.startsWith(env.rp.redirectUri));
    });

    it('interrupts a member of a selected group', async () => {
      const user = await seedUser(env.srv.app, { login: 'pia', groups: ['pilot'] });
      const { landed } = await signInFresh(env, user);
      assertRegisterPage(landed);
      assert.doesNotMatch(landed.html, /value="sms"/, 'only the methods the policy lists');
    });
  });

  describe('administrators with enabled_for: none', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'none', methods: ['email'], methods_required: 1 }); });
    after(() => stopEnv(env));

    it('are still interrupted, may use every method and need two', async () => {
      const admin = await seedUser(env.srv.app, { login: 'root', admin: true });
      const { browser, landed, verifier, state } = await signInFresh(env, admin);
      assertRegisterPage(landed);
      assert.match(landed.html, /value="totp"/, 'admins may use every method type');
      const one = await registerEmail(env, browser, landed, 'root@example.org');
      assert.doesNotMatch(one.html, /\/finish"/);
      // A hand-made Finish (the page offers none yet) is refused by the flow, not just hidden.
      const form = findForm(one.html, '/method');
      const early = await browser.follow(new URL(form.action.replace(/\/method$/, '/finish'), env.srv.issuer).toString(), { body: new URLSearchParams(form.hidden).toString() });
      assert.deepEqual(messageIds(early.html), ['registration:errors.too_few_methods']);
      const two = await registerSms(env, browser, one, '+32470123456', '+32470123456');
      await finishAndGetTokens(env, browser, two, verifier, state);
    });

    it('does not interrupt ordinary users', async () => {
      const user = await seedUser(env.srv.app, { login: 'norma' });
      const { browser, landed } = await signInFresh(env, user);
      assert.ok((await consentIfAsked(browser, landed)).redirectedTo);
    });
  });

  describe('allow_skip', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'all', allow_skip: true }); });
    after(() => stopEnv(env));

    it('lets a user choose "Not now" and go on to the app; the next sign-in asks again', async () => {
      const user = await seedUser(env.srv.app, { login: 'nico' });
      const { browser, landed, verifier, state } = await signInFresh(env, user);
      assertRegisterPage(landed);
      await finishAndGetTokens(env, browser, landed, verifier, state, '/skip');
      const again = await signInFresh(env, user);
      assertRegisterPage(again.landed);
    });
  });

  describe('send limits', () => {
    let env: Env;
    before(async () => {
      env = await startEnv({ enabled_for: 'all', throttle: { email_sends: { max: 2, window_minutes: 10, block_hours: 1 } } });
    });
    after(() => stopEnv(env));

    it('refuses sends past the limit with a clear message', async () => {
      const user = await seedUser(env.srv.app, { login: 'lena' });
      const { browser, landed } = await signInFresh(env, user);
      const target = await choose(browser, landed, 'email');
      let page: Landed = await browser.submit(target, { email: 'lena@example.org' }, { actionPart: '/target' });
      page = await browser.submit(page, { action: 'resend' }, { actionPart: '/verify' });
      assert.deepEqual(messageIds(page.html), []);
      page = await browser.submit(page, { action: 'resend' }, { actionPart: '/verify' });
      assert.equal(page.status, 429);
      assert.deepEqual(messageIds(page.html), ['registration:errors.throttled_until']);
      await waitFor(() => env.smtp.received.filter((m) => m.to.includes('lena@example.org')).length === 2);
    });
  });

  describe('/account/security', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'all', methods_required: 1 }); });
    after(() => stopEnv(env));

    it('shows, adds (with a code) and removes methods, never below the required count', async () => {
      const user = await seedUser(env.srv.app, { login: 'anna' });
      await env.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: 'anna@example.org' });
      const { browser, landed } = await signInFresh(env, user);
      await consentIfAsked(browser, landed);

      const overview = await browser.get(`${env.srv.issuer}/account/security`);
      assert.equal(overview.status, 200);
      assert.match(overview.html, /a•••@example\.org/);
      const emailId = (await env.srv.app.sspr.methodRepo.listVerified(user.id))[0].id;
      // The only method: no Remove offered, the page says why (plural rules: "at least one").
      assert.doesNotMatch(overview.html, /\/account\/security\/remove\//);
      assert.match(overview.html, /This is your only recovery method and you need at least one/);
      // Its confirmation page sends back to the overview; a forged post is refused and lands on a GET page.
      const noConfirm = await browser.get(`${env.srv.issuer}/account/security/remove/${emailId}`);
      assert.equal(new URL(noConfirm.url).pathname, '/account/security');
      const csrf = findForm(overview.html, '/method').hidden;
      const refused = await browser.follow(`${env.srv.issuer}/account/security/remove`, { body: new URLSearchParams({ ...csrf, method: emailId }).toString() });
      assert.equal(new URL(refused.url).pathname, '/account/security');
      assert.deepEqual(messageIds(refused.html), ['registration:errors.below_required']);
      assert.match(refused.html, /you need at least one recovery method\./);
      assert.ok(browser.history.slice(-2)[0]!.startsWith('POST /account/security/remove 303'), browser.history.join('\n'));
      // The language link after the refusal is a GET page too.
      assert.equal((await browser.get(`${env.srv.issuer}/account/security?lang=nl`)).status, 200);

      const target = await browser.submit(refused, { method: 'sms' }, { actionPart: '/method' });
      const codePage = await browser.submit(target, { phone: '+31612345679' }, { actionPart: '/target' });
      const code = await textedCode(env, '+31612345679');
      const added = await browser.submit(codePage, { code }, { actionPart: '/verify' });
      assert.ok(messageIds(added.html).includes('registration:added'), added.html.slice(0, 2000));
      assert.match(added.html, /\+31 •••••••79/);

      const confirm = await browser.get(`${env.srv.issuer}${link(added.html, `/account/security/remove/${emailId}`)}`);
      assert.equal(confirm.status, 200);
      assert.match(confirm.html, /<h1>Herstelmethode verwijderen\?<\/h1>/, 'in the language chosen above');
      assert.match(confirm.html, /Wilt u E-mail \(a•••@example\.org\) als herstelmethode verwijderen\?/);
      assert.equal((await env.srv.app.sspr.methodRepo.listVerified(user.id)).length, 2, 'the confirmation page removes nothing');
      const removed = await browser.submit(confirm, {}, { actionPart: '/remove' });
      assert.ok(messageIds(removed.html).includes('registration:removed'));
      assert.deepEqual((await env.srv.app.sspr.methodRepo.listVerified(user.id)).map((m) => m.type), ['sms']);
      assert.ok((await auditActivities(env, user.id)).includes('sspr.registration.method_removed:success'));
    });

    it('asks for the password again when the sign-in is older than 10 minutes', async () => {
      const user = await seedUser(env.srv.app, { login: 'otto' });
      const { browser, landed } = await signInFresh(env, user);
      await browser.get(landed.url); // registration page: the session exists
      env.clock.advance('11m');
      const overview = await browser.get(`${env.srv.issuer}/account/security`);
      assert.doesNotMatch(overview.html, /\/account\/security\/method"/);
      assert.ok(findForm(overview.html, '/reauth'));
      const wrongPw = await browser.submit(overview, { password: 'not the password' }, { actionPart: '/reauth' });
      assert.deepEqual(messageIds(wrongPw.html), ['registration:errors.wrong_password']);
      const ok = await browser.submit(wrongPw, { password: user.password }, { actionPart: '/reauth' });
      assert.match(ok.html, /\/account\/security\/method"/);
    });

    it('tells a visitor without a session to sign in first', async () => {
      const page = await new Browser().get(`${env.srv.issuer}/account/security`);
      assert.equal(page.status, 401);
      assert.deepEqual(messageIds(page.html), ['registration:security.sign_in_required']);
    });
  });
});
