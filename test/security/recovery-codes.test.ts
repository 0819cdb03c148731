/**
 * Recovery codes (issue 17): registered at the sign-in interrupt, shown once, stored only as keyed
 * hashes, each usable once as a reset proof — also under concurrent posts — and guessed only as far
 * as the code throttle allows. Real server, SQLite, real SMTP server for the notices.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Browser, attr, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import { typedMethods } from '../support/methods.ts';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
const NEW_PASSWORD = 'quartz meadow lantern ferry 31';

/** The codes of the enrolment page, as shown. */
function shownCodes(html: string): string[] {
  const list = /<ul class="recovery-codes"[^>]*>([\s\S]*?)<\/ul>/.exec(html);
  assert.ok(list, 'the page lists the new codes');
  return [...list[1].matchAll(/<code>([^<]+)<\/code>/g)].map((m) => m[1]!);
}

describe('security: recovery codes', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let smtp: Smtp;
  let rp: RelyingParty;
  let n = 0;

  before(async () => {
    smtp = await startSmtpServer();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      overrides: {
        sspr: { enabled_for: 'all', methods: ['email', 'recovery_codes'], throttle: { failed_verifications: { max: 3, window_hours: 24, block_hours: 24 } } },
        delivery: { outbox_dir: join(db.dir, 'outbox'), email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
      },
    });
    rp = await relyingParty(srv.issuer);
  });
  after(async () => { await srv?.close(); await smtp?.close(); await db?.drop(); });

  /** Signs in, is interrupted for registration, registers recovery codes; returns the codes shown. */
  async function registerCodes(user: SeededUser, lang = 'en'): Promise<{ codes: string[]; browser: Browser; page: Page & { redirectedTo?: string } }> {
    const browser = new Browser();
    browser.acceptLanguage = lang;
    const { page } = await rp.start(browser);
    const prompt = await signIn(browser, page, user.login, user.password);
    assert.match(prompt.url, /\/register$/, `the register prompt: ${prompt.url}`);
    assert.match(prompt.html, /<label for="method-recovery_codes"><input type="radio"[^>]*value="recovery_codes"/);
    const enrol = await browser.submit(prompt, { method: 'recovery_codes' }, { actionPart: '/method' });
    assert.equal(enrol.status, 200);
    const codes = shownCodes(enrol.html);
    assert.equal(codes.length, 10);
    for (const c of codes) assert.match(c, /^[a-z2-9]{5}-[a-z2-9]{5}$/, 'grouped for reading');
    const field = inputByAutocomplete(enrol.html, 'one-time-code');
    assert.doesNotMatch(enrol.html, /inputmode="numeric"/, 'letters and digits: no numeric keypad');
    const download = await browser.request(new URL(`${new URL(enrol.url).pathname}/enrolment.txt`, enrol.url).toString());
    assert.equal(download.status, 200);
    assert.match(download.headers.get('content-disposition') ?? '', /attachment/);
    assert.deepEqual(download.html.trim().split('\n'), codes, 'the download holds the same codes');
    const registered = await browser.submit(enrol, { [field]: codes[3]!.toUpperCase().replace('-', ' ') }, { actionPart: '/verify' });
    assert.ok(messageIds(registered.html).includes('registration:added'), registered.html.slice(0, 500));
    const done = await consentIfAsked(browser, await browser.submit(registered, {}, { actionPart: '/finish' }));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), 'on to the app');
    return { codes, browser, page: done };
  }

  /** /reset up to the code page of the recovery-code method. */
  async function codePage(b: Browser, login: string): Promise<Page> {
    const start = await b.get(`${srv.issuer}/reset`);
    const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: login });
    assert.match(method.html, /value="recovery_codes"/);
    const page = await b.submit(method, { method: 'recovery_codes' });
    assert.match(page.html, /autocomplete="one-time-code"/);
    return page;
  }

  async function resetWith(login: string, code: string, password = NEW_PASSWORD): Promise<Page> {
    const b = new Browser();
    const page = await codePage(b, login);
    const after = await b.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: code });
    if (!/\/password$/.test(new URL(after.url).pathname)) return after;
    const names = [...after.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1]!, 'autocomplete') === 'new-password').map((m) => attr(m[1]!, 'name')!);
    return b.submit(after, { [names[0]!]: password, [names[1]!]: password });
  }

  const remaining = async (accountId: string) => {
    const [m] = (await srv.app.sspr.methodRepo.listVerified(accountId)).filter((x) => x.type === 'recovery_codes');
    return (JSON.parse(m!.secretEnc!) as { hashes: string[] }).hashes.length;
  };

  it('are registered at the sign-in interrupt, stored only as keyed hashes, and typing one back uses none', async () => {
    const user = await seedUser(srv.app, { login: `rc-user-${++n}` });
    const { codes } = await registerCodes(user);
    const rows = JSON.stringify(await srv.app.store.models.RecoveryMethod.findAll({ raw: true }));
    const flows = JSON.stringify(await srv.app.store.models.Flow.findAll({ raw: true }));
    for (const c of codes) {
      assert.ok(!rows.includes(c) && !rows.includes(c.replace('-', '')), 'no clear code in recovery_methods');
      assert.ok(!flows.includes(c), 'no clear code left in the flow');
    }
    assert.equal(await remaining(user.id), 10);
  });

  it('a code resets the password once; the same code is refused the second time', async () => {
    const user = await seedUser(srv.app, { login: `rc-user-${++n}` });
    const { codes } = await registerCodes(user);
    // A channel to be told on (codes alone have none).
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: user.email });
    const sent = smtp.received.length;
    const done = await resetWith(user.login, codes[0]!);
    assert.equal(done.status, 200);
    assert.match(done.html, /reset:done|Password changed/);
    assert.equal(await remaining(user.id), 9);
    assert.equal(await srv.app.directory.verifyPassword(user.id, NEW_PASSWORD), true);
    await waitFor(() => smtp.received.slice(sent).some((m) => m.to.includes(user.email!) && /password was changed/i.test(m.headers.subject ?? '')));
    const again = await resetWith(user.login, codes[0]!);
    assert.deepEqual(messageIds(again.html).filter((id) => id.startsWith('errors:')), ['errors:sspr.code_invalid']);
  });

  it('ten concurrent resets with the same code: exactly one passes', async () => {
    const user = await seedUser(srv.app, { login: `rc-user-${++n}` });
    const { codes } = await registerCodes(user);
    const browsers = Array.from({ length: 10 }, () => new Browser());
    const pages = await Promise.all(browsers.map((b) => codePage(b, user.login)));
    const results = await Promise.all(browsers.map((b, i) => b.submit(pages[i]!, { [inputByAutocomplete(pages[i]!.html, 'one-time-code')]: codes[5]! })));
    const passed = results.filter((r) => /\/password$/.test(new URL(r.url).pathname));
    assert.equal(passed.length, 1, results.map((r) => r.url).join('\n'));
    assert.equal(await remaining(user.id), 9);
  });

  it('two proofs racing with the same code on the same stored set: one wins, the other is refused', async () => {
    // What two concurrent resets do when both read the set before either used the code up.
    const user = await seedUser(srv.app, { login: `rc-user-${++n}` });
    const { codes } = await registerCodes(user);
    const [stored] = (await srv.app.sspr.methodRepo.listVerified(user.id)).filter((m) => m.type === 'recovery_codes');
    const method = typedMethods(srv.app.sspr.methods).recoveryCodes;
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => srv.app.store.transaction((t) => method.prove({ accountId: user.id, stored: stored!, code: codes[2]! }, t))));
    assert.equal(outcomes.filter((o) => o.status === 'fulfilled').length, 1, outcomes.map((o) => o.status).join(','));
    assert.equal(await remaining(user.id), 9);
  });

  it('wrong codes are guesses: after failed_verifications.max the reset is blocked, also for a right code', async () => {
    const user = await seedUser(srv.app, { login: `rc-user-${++n}` });
    const { codes } = await registerCodes(user);
    for (let i = 0; i < 3; i++) {
      const wrong = await resetWith(user.login, 'aaaaa-bbbbb');
      assert.deepEqual(messageIds(wrong.html).filter((id) => id.startsWith('errors:')), ['errors:sspr.code_invalid']);
    }
    const blocked = await resetWith(user.login, codes[1]!);
    assert.ok(messageIds(blocked.html).some((id) => /throttled/.test(id)), messageIds(blocked.html).join(','));
    assert.equal(await remaining(user.id), 10, 'the right code was not checked, nor used up');
  });

  it('an unknown id is offered the same method and page, and its code is refused the same way', async () => {
    const known = await seedUser(srv.app, { login: `rc-user-${++n}` });
    await registerCodes(known);
    const shape = (html: string) => html.replace(/name="csrf" value="[^"]+"/g, '').replace(/\/interaction\/[\w-]+/g, '');
    const a = await codePage(new Browser(), known.login);
    const b = await codePage(new Browser(), `nobody-${n}`);
    assert.equal(shape(a.html), shape(b.html));
    const refused = await resetWith(`nobody-${n}`, 'abcde-fghjk');
    assert.deepEqual(messageIds(refused.html).filter((id) => id.startsWith('errors:')), ['errors:sspr.code_invalid']);
  });

  it('/account/security shows how many are left, warns at two or fewer, and a new set voids the old one', async () => {
    const user = await seedUser(srv.app, { login: `rc-user-${++n}` });
    const { codes, browser } = await registerCodes(user);
    for (const [i, c] of codes.slice(0, 8).entries()) {
      const done = await resetWith(user.login, c, `${NEW_PASSWORD} round ${i}`);
      assert.equal(done.status, 200);
    }
    // The resets ended the sessions: sign in again with the newest password, within the last 10 minutes.
    const signInPage = await browser.get(`${srv.issuer}/account/sign-in`);
    const security = await signIn(browser, signInPage, user.login, `${NEW_PASSWORD} round 7`);
    assert.match(security.html, /data-remaining="2"/);
    assert.match(security.html, /class="warning"/);
    const enrol = await browser.submit(security, { method: 'recovery_codes' }, { actionPart: '/method', extra: { regenerate: '1' } });
    const fresh = shownCodes(enrol.html);
    const saved = await browser.submit(enrol, { [inputByAutocomplete(enrol.html, 'one-time-code')]: fresh[0]! }, { actionPart: '/verify' });
    assert.match(saved.html, /data-remaining="10"/);
    const old = await resetWith(user.login, codes[9]!);
    assert.deepEqual(messageIds(old.html).filter((id) => id.startsWith('errors:')), ['errors:sspr.code_invalid'], 'the old set is void');
  });
});
