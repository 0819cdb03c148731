import assert from 'node:assert/strict';
import { Browser, attr, findForm, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startGateway, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import type { ConfigInput } from '../../src/config/schema.ts';

/**
 * Issue 18, the registration and /account/security half: pages a person finishes without help.
 * Finish is the one primary action once the policy is met, a registered type is not offered again
 * (changing it says it replaces), Remove asks first and is not offered below the policy (plural
 * wording, en and nl), errors sit next to their field, every code field has its method's length, a
 * reload after a wrong code posts nothing, sessions are named by browser, OS, network and app.
 */
type Landed = Page & { redirectedTo?: string };

interface Env { db: TestDatabase; srv: TestServer; smtp: Awaited<ReturnType<typeof startSmtpServer>>; gateway: Awaited<ReturnType<typeof startGateway>>; rp: RelyingParty }

async function startEnv(sspr: NonNullable<ConfigInput['sspr']>): Promise<Env> {
  const smtp = await startSmtpServer();
  const gateway = await startGateway();
  const db = createSqliteDatabase();
  const redirectUri = 'http://127.0.0.1:1/cb';
  const srv = await startTestServer({
    database: db.url,
    overrides: {
      sspr,
      clients: [{ client_id: 'test-app', client_secret: 'test-app-secret-0123456789', client_name: 'Team Calendar', redirect_uris: [redirectUri], post_logout_redirect_uris: ['http://127.0.0.1:1/'] }],
      delivery: {
        outbox_dir: `${db.dir}/outbox`,
        email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
        sms: { transport: 'http', http: { url: gateway.url } },
      },
    },
  });
  return { db, srv, smtp, gateway, rp: await relyingParty(srv.issuer) };
}

async function stopEnv(env: Env | undefined): Promise<void> {
  if (!env) return;
  await env.srv.close();
  await env.smtp.close();
  await env.gateway.close();
  await env.db.drop();
}

async function mailedCode(env: Env, to: string, after: number): Promise<string> {
  const mine = () => env.smtp.received.filter((m) => m.to.includes(to));
  await waitFor(() => mine().length > after);
  return mine().at(-1)!.text.match(CODE_RUN)![0];
}

const wrong = (code: string) => [...code].map((d) => String((Number(d) + 1) % 10)).join('');

/** The attributes of the input (or fieldset) with this id. */
function tagOf(html: string, id: string): string {
  const m = new RegExp(`<(?:input|fieldset)\\b([^>]*\\bid="${id}"[^>]*)>`).exec(html);
  assert.ok(m, `no field #${id}`);
  return m[1];
}

/** The radios of the choose form: [value, checked]. */
function radios(html: string): Array<[string, boolean]> {
  return [...html.matchAll(/<input type="radio"([^>]*)>/g)].map((m) => [attr(m[1], 'value')!, /\bchecked\b/.test(m[1])]);
}

async function signInFresh(env: Env, user: SeededUser, browser = new Browser()) {
  const { page, verifier, state } = await env.rp.start(browser);
  return { browser, landed: await signIn(browser, page, user.login, user.password), verifier, state };
}

/** Registers an email method from the page's choose form; returns the page after Verify. */
async function addEmail(env: Env, browser: Browser, page: Page, address: string, extra: Record<string, string> = {}): Promise<Landed> {
  const target = await browser.submit(page, { method: 'email', ...extra }, { actionPart: '/method' });
  const before = env.smtp.received.filter((m) => m.to.includes(address)).length;
  const codePage = await browser.submit(target, { [inputByAutocomplete(target.html, 'email')]: address }, { actionPart: '/target' });
  return browser.submit(codePage, { code: await mailedCode(env, address, before) }, { actionPart: '/verify' });
}

describe('issue 18: registration and /account/security pages (HTTP)', function () {
  describe('one method required', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'all', methods_required: 1, methods: ['email', 'sms', 'totp', 'recovery_codes'] }); });
    after(() => stopEnv(env));

    it('once the policy is met Finish is the only primary action, nothing is pre-selected and the registered type is not offered again', async () => {
      const user = await seedUser(env.srv.app, { login: 'fiona' });
      const { browser, landed } = await signInFresh(env, user);
      // Before: one form that moves on, the first new method chosen, no Finish.
      assert.deepEqual(radios(landed.html), [['email', true], ['sms', false], ['totp', false], ['recovery_codes', false]]);
      assert.doesNotMatch(landed.html, /\/finish"/);

      const after = await addEmail(env, browser, landed, 'fiona@example.org');
      assert.ok(messageIds(after.html).includes('registration:added'));
      // Finish comes first and is the only submit button without the secondary style.
      const finishAt = after.html.indexOf('/finish"');
      const methodAt = after.html.indexOf('id="choose-legend"');
      assert.ok(finishAt > 0 && finishAt < methodAt, 'Finish before the optional method form');
      const primaries = [...after.html.matchAll(/<button type="submit"([^>]*)>/g)].filter((m) => !/class="secondary"/.test(m[1]) && !/\bname=/.test(m[1]));
      assert.equal(primaries.length, 1, 'one primary button');
      assert.match(primaries[0]![0], /id="finish"/);
      // Another method is offered, but not pre-selected (Enter does not start one), and email is not offered again.
      assert.deepEqual(radios(after.html), [['sms', false], ['totp', false], ['recovery_codes', false]]);
      assert.match(after.html, /Or add another method \(optional\)/);

      // Posting the optional form without a choice comes back (by redirect) with the error on the radio group.
      // A registered method can be changed from its own entry (it replaces; see the /account/security test).
      assert.equal(findForm(after.html, '/method').hidden.method, 'email');
      const none = await browser.submit(after, { method: '' }, { actionPart: '/method' });
      assert.equal(new URL(none.url).pathname.endsWith('/register'), true);
      assert.match(browser.history.at(-2)!, /^POST .*\/method 303$/);
      assert.match(none.html, /<fieldset role="radiogroup" aria-labelledby="choose-legend" aria-invalid="true" aria-describedby="method-error">/);
      assert.match(none.html, /<div id="method-error" class="message error field-error" role="alert"><p data-message-id="registration:errors.choose_method">/);
    });

    it('each method\'s code field has its own length: email code 6, authenticator 6, recovery code 11', async () => {
      const user = await seedUser(env.srv.app, { login: 'max' });
      const { browser, landed } = await signInFresh(env, user);
      const target = await browser.submit(landed, { method: 'email' }, { actionPart: '/method' });
      const codePage = await browser.submit(target, { email: 'max@example.org' }, { actionPart: '/target' });
      assert.equal(attr(tagOf(codePage.html, 'code'), 'maxlength'), String(env.srv.app.sspr.codes.length));
      const chooseAgain = await browser.submit(codePage, { action: 'back' }, { actionPart: '/verify' });
      const totp = await browser.submit(chooseAgain, { method: 'totp' }, { actionPart: '/method' });
      assert.equal(attr(tagOf(totp.html, 'code'), 'maxlength'), '6');
      // The QR code has an accessible name, and the key is shown in groups of four that copy as one key.
      assert.match(totp.html, /<img src="data:image\/svg\+xml;base64,[^"]+" width="192" height="192" alt="QR code to scan with your authenticator app"/);
      const groups = [.../id="totp-secret">([\s\S]*?)<\/code>/.exec(totp.html)![1].matchAll(/<span>([A-Z2-7]+)<\/span>/g)].map((m) => m[1]);
      assert.ok(groups.length >= 4 && groups.slice(0, -1).every((g) => g.length === 4), `groups of four: ${groups.join(' ')}`);
      const uri = /href="(otpauth:\/\/totp\/[^"]+)"/.exec(totp.html)![1].replace(/&amp;/g, '&');
      assert.equal(new URL(uri).searchParams.get('secret'), groups.join(''), 'the groups are the key');
      const back = await browser.submit(totp, { action: 'back' }, { actionPart: '/verify' });
      const codes = await browser.submit(back, { method: 'recovery_codes' }, { actionPart: '/method' });
      const printed = /<code>([a-z0-9-]+)<\/code>/.exec(codes.html)![1];
      assert.equal(attr(tagOf(codes.html, 'code'), 'maxlength'), String(printed.length));
      assert.equal(printed.length, 11);
    });

    it('a wrong code comes back by redirect with the error next to the field; reloading it posts nothing (one attempt in the audit log)', async () => {
      const user = await seedUser(env.srv.app, { login: 'rita' });
      const { browser, landed } = await signInFresh(env, user);
      const target = await browser.submit(landed, { method: 'email' }, { actionPart: '/method' });
      const codePage = await browser.submit(target, { email: 'rita@example.org' }, { actionPart: '/target' });
      const code = await mailedCode(env, 'rita@example.org', 0);
      const refused = await browser.submit(codePage, { code: wrong(code) }, { actionPart: '/verify' });
      assert.match(browser.history.at(-2)!, /^POST \/interaction\/[^/]+\/register\/verify 303$/, 'the post redirected');
      assert.match(browser.history.at(-1)!, /^GET \/interaction\/[^/]+\/register 400$/, 'the error page is a GET');
      const field = tagOf(refused.html, 'code');
      assert.equal(attr(field, 'aria-invalid'), 'true');
      assert.equal(attr(field, 'aria-describedby'), 'code-error code-hint');
      assert.match(refused.html, /<div id="code-error" class="message error field-error" role="alert"><p data-message-id="errors:sspr.code_invalid">/);
      assert.deepEqual(messageIds(refused.html), ['errors:sspr.code_invalid'], 'shown once, next to the field');

      const attempts = async () => (await env.srv.app.audit.query({ targetAccountId: user.id, activity: 'sspr.registration.method_verified' })).filter((e) => e.result === 'failure').length;
      assert.equal(await attempts(), 1);
      const reloaded = await browser.get(refused.url);
      assert.equal(reloaded.status, 200, 'a reload shows the page again (the error was shown once)');
      assert.equal(await attempts(), 1, 'the reload burned no guess');
      assert.doesNotMatch(reloaded.html, /aria-invalid/);
    });

    it('/account/security: changing the email says it replaces the old one, and keeps one email method', async () => {
      const user = await seedUser(env.srv.app, { login: 'carl' });
      const { browser, landed } = await signInFresh(env, user);
      const registered = await addEmail(env, browser, landed, 'carl@example.org');
      await consentIfAsked(browser, await browser.submit(registered, {}, { actionPart: '/finish' }));

      const overview = await browser.get(`${env.srv.issuer}/account/security`);
      assert.deepEqual(radios(overview.html).map(([v]) => v), ['sms', 'totp', 'recovery_codes'], 'email is not offered as new');
      const change = findForm(overview.html, '/method');
      assert.equal(change.hidden.method, 'email', 'the email entry has its own Change');
      const target = await browser.submit(overview, {}, { actionPart: '/method' });
      assert.match(target.html, /<h1>Change your email address<\/h1>/);
      assert.match(target.html, /You can register one email address\. The new address replaces c•••@example\.org once you have entered its code/);

      const oldMails = env.smtp.received.filter((m) => m.to.includes('carl@example.org')).length;
      const before = env.smtp.received.filter((m) => m.to.includes('carl@work.example')).length;
      const codePage = await browser.submit(target, { email: 'carl@work.example' }, { actionPart: '/target' });
      const done = await browser.submit(codePage, { code: await mailedCode(env, 'carl@work.example', before) }, { actionPart: '/verify' });
      assert.ok(messageIds(done.html).includes('registration:added'));
      const methods = await env.srv.app.sspr.methodRepo.listVerified(user.id);
      assert.deepEqual(methods.map((m) => [m.type, m.target]), [['email', 'carl@work.example']]);
      // The old address hears of the change.
      await waitFor(() => env.smtp.received.filter((m) => m.to.includes('carl@example.org')).length > oldMails);
    });

    it('the password form holds the login in an autocomplete="username" field of the same form; after the change a GET page links on', async () => {
      const user = await seedUser(env.srv.app, { login: 'paula' });
      const { browser, landed } = await signInFresh(env, user);
      await consentIfAsked(browser, await browser.submit(await addEmail(env, browser, landed, 'paula@example.org'), {}, { actionPart: '/finish' }));
      const page = await browser.get(`${env.srv.issuer}/account/security/password`);
      const form = findForm(page.html, '/account/security/password');
      const username = /<input\b([^>]*autocomplete="username"[^>]*)>/.exec(form.html);
      assert.ok(username, 'a username field in the password form');
      assert.equal(attr(username[1], 'value'), 'paula');
      assert.match(username[1], /\breadonly\b/);
      assert.equal(inputByAutocomplete(form.html, 'new-password'), 'new_password');

      // A refused new password: by redirect, next to the field.
      const weak = await browser.submit(page, { current_password: user.password, new_password: 'short', confirm_password: 'short' }, { actionPart: '/password' });
      assert.match(browser.history.at(-2)!, /^POST \/account\/security\/password 303$/);
      assert.equal(attr(tagOf(weak.html, 'new-password'), 'aria-invalid'), 'true');
      assert.match(attr(tagOf(weak.html, 'new-password'), 'aria-describedby')!, /^new_password-error/);

      const fresh = 'a fresh and long passphrase 42';
      const changed = await browser.submit(weak, { current_password: user.password, new_password: fresh, confirm_password: fresh }, { actionPart: '/password' });
      assert.equal(changed.status, 200);
      assert.equal(new URL(changed.url).pathname, '/account/security/password/changed', 'a GET page: a reload posts nothing');
      assert.match(changed.html, /id="sign-in-again"/);
    });
  });

  describe('two methods required', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'all', methods_required: 2 }); });
    after(() => stopEnv(env));

    for (const lang of ['en', 'nl'] as const) {
      it(`${lang}: Remove is not offered below the policy and says why in the plural; a forged removal is refused on a GET page`, async () => {
        const user = await seedUser(env.srv.app, { login: `two-${lang}` });
        await env.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: `two-${lang}@example.org` });
        await env.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'sms', target: '+31612345678' });
        const browser = new Browser();
        browser.acceptLanguage = lang;
        const { landed } = await signInFresh(env, user, browser);
        await consentIfAsked(browser, landed);
        const overview = await browser.get(`${env.srv.issuer}/account/security`);
        assert.doesNotMatch(overview.html, /\/account\/security\/remove\//);
        const why = lang === 'en' ? /You need at least 2 different recovery methods, so this one cannot be removed/ : /U hebt minstens 2 verschillende herstelmethoden nodig\. U kunt deze daarom niet verwijderen/;
        assert.equal(overview.html.match(new RegExp(why.source, 'g'))?.length, 2);

        const id = (await env.srv.app.sspr.methodRepo.listVerified(user.id))[0]!.id;
        const refused = await browser.follow(`${env.srv.issuer}/account/security/remove`, { body: new URLSearchParams({ ...findForm(overview.html, '/method').hidden, method: id }).toString() });
        assert.equal(new URL(refused.url).pathname, '/account/security');
        assert.deepEqual(messageIds(refused.html), ['registration:errors.below_required']);
        assert.match(refused.html, lang === 'en' ? /you need at least 2 different recovery methods\./ : /u hebt minstens 2 verschillende herstelmethoden nodig\./);
        assert.equal((await env.srv.app.sspr.methodRepo.listVerified(user.id)).length, 2);
        // The language links of that page answer GET.
        const other = await browser.get(`${env.srv.issuer}/account/security?lang=${lang === 'en' ? 'nl' : 'en'}`);
        assert.equal(other.status, 200);
      });
    }
  });

  describe('sessions', () => {
    let env: Env;
    before(async () => { env = await startEnv({ enabled_for: 'none' }); });
    after(() => stopEnv(env));

    it('names each session by browser and OS, coarse network and app name, and marks this browser', async () => {
      const user = await seedUser(env.srv.app, { login: 'sam' });
      const laptop = new Browser();
      laptop.userAgent = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0';
      const phone = new Browser();
      phone.userAgent = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
      for (const b of [laptop, phone]) await consentIfAsked(b, (await signInFresh(env, user, b)).landed);

      const page = await laptop.get(`${env.srv.issuer}/account/security`);
      const items = [...page.html.matchAll(/<li((?:\s[^>]*)?)>([\s\S]*?)<\/li>/g)].filter((m) => /signed in/.test(m[2]));
      assert.equal(items.length, 2, page.html);
      const mine = items.find((m) => m[1].includes('data-current="true"'))!;
      assert.match(mine[2], /Firefox 128 on Windows 10/);
      assert.match(mine[2], /this browser/);
      const other = items.find((m) => !m[1].includes('data-current'))!;
      assert.match(other[2], /Safari 17 on iOS 17\.1/);
      for (const [, , text] of items) {
        assert.match(text, /from network 127\.0\.0\.x/, 'the address coarsened to its /24');
        assert.match(text, /apps: Team Calendar/, 'the app by its name, not its id');
        assert.doesNotMatch(text, /test-app|127\.0\.0\.1/);
      }
      // Stored coarse only: the full address is in no session row.
      const rows = await env.srv.app.store.models.OidcPayload.findAll({ where: { model: 'Session' } });
      assert.ok(rows.every((r) => !r.payload.includes('127.0.0.1') && r.payload.includes('127.0.0.x')));
    });
  });
});
