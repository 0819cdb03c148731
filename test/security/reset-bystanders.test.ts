/**
 * Issue 16, "one IP locks everyone out of reset": a stranger's wrong codes must not lock out the
 * colleagues who share the address, a block says when it ends, an admin can lift it, and reloading
 * a page that showed a wrong code guesses nothing. Driven over HTTP against a real server, from the
 * addresses the server is told in X-Forwarded-For (`proxy: true`).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { generate } from 'otplib';
import { Writable } from 'node:stream';
import { run } from '../../src/cli/main.ts';
import type { CliIo } from '../../src/cli/commands/context.ts';
import { IP_FACTOR } from '../../src/sspr/guess-limits.ts';
import { Browser, findForm, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, TEST_HASHING, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { totpSecret, typedMethods } from '../support/methods.ts';

const MAX = 3;
const OFFICE = '198.51.100.20';

describe('issue 16: reset blocks never punish bystanders, say when they end, and can be lifted', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let config: string;
  const clock = new TestClock();
  let n = 0;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: {
        proxy: true,
        sspr: { throttle: { failed_verifications: { max: MAX, window_hours: 24, block_hours: 24 }, flows_started: { max: 100, window_minutes: 60, block_hours: 0 }, sign_in_failures: { delay_after: 100, block_after: 4, block_minutes: 15 } } },
      },
    });
    config = join(db.dir, 'oidc-sspr.yaml');
    const h = TEST_HASHING;
    writeFileSync(config, `database: ${db.url}\npassword_hashing: { memory_kib: ${h.memory_kib}, time_cost: ${h.time_cost}, parallelism: ${h.parallelism} }\n`);
  });
  after(async () => { await srv?.close(); await db?.drop(); });
  beforeEach(() => clock.advance('3d'));

  /** The admin CLI, in process, on the server's database. */
  async function cli(...args: string[]): Promise<Record<string, unknown>> {
    let out = '';
    let err = '';
    const sink = (write: (s: string) => void) => new Writable({ write(chunk, _enc, done) { write(String(chunk)); done(); } });
    const io: CliIo = {
      stdout: sink((s) => { out += s; }),
      stderr: sink((s) => { err += s; }),
      stdin: process.stdin,
      env: { ...process.env, OIDC_SSPR_CONFIG: config },
    };
    assert.equal(await run([...args, '--json'], io), 0, err);
    return JSON.parse(out) as Record<string, unknown>;
  }

  /** Posts a page's form from `ip`, following the redirects. */
  function post(b: Browser, page: Page, values: Record<string, string>, ip: string): Promise<Page> {
    const form = findForm(page.html);
    const action = new URL(form.action || page.url, page.url).toString();
    return b.follow(action, { body: new URLSearchParams({ ...form.hidden, ...values }).toString(), headers: { 'x-forwarded-for': ip } });
  }

  /** A reset up to the authenticator-code page, from `ip` (or the refusal before it). */
  async function totpCodePage(login: string, ip: string, lang = 'en'): Promise<{ b: Browser; page: Page }> {
    const b = new Browser();
    b.acceptLanguage = lang;
    const start = await b.get(`${srv.issuer}/reset`);
    const method = await post(b, start, { [inputByAutocomplete(start.html, 'username')]: login }, ip);
    if (!/\/reset\/method$/.test(method.url)) return { b, page: method };
    return { b, page: await post(b, method, { method: 'totp' }, ip) };
  }

  const typeCode = (b: Browser, page: Page, code: string, ip: string) => post(b, page, { [inputByAutocomplete(page.html, 'one-time-code')]: code }, ip);

  async function withTotp(login: string): Promise<SeededUser & { code: () => Promise<string> }> {
    const user = await seedUser(srv.app, { login });
    const e = await totpSecret(srv.app, login);
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'totp', secretEnc: e.secretEnc });
    return { ...user, code: () => generate({ secret: e.secret, epoch: Math.floor(clock.now().getTime() / 1000) }) };
  }

  /** Wrong codes for `login` from `ip` until its reset is refused; how many were answered as wrong. */
  async function guessUntilBlocked(login: string, ip: string): Promise<number> {
    let { b, page } = await totpCodePage(login, ip);
    let wrong = 0;
    while (page.status !== 429 && wrong < 50) {
      page = await typeCode(b, page, '000000', ip);
      if (page.status === 400) wrong++;
    }
    assert.equal(page.status, 429, `${login} blocked`);
    return wrong;
  }

  async function signInStatus(login: string, password: string): Promise<'ok' | number> {
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const landed = await consentIfAsked(b, await signIn(b, (await rp.start(b)).page, login, password));
    return landed.redirectedTo ? 'ok' : landed.status;
  }

  it('30 concurrent wrong reset codes for one account, each in its own flow: at most failed_verifications.max are checked', async () => {
    const user = await withTotp(`racedcode${++n}`);
    const totp = typedMethods(srv.app.sspr.methods).totp;
    const prove = totp.prove;
    let checked = 0;
    totp.prove = async (...args) => { checked++; return prove(...args); };
    try {
      // Every attacker flow waits on the code page, then all guesses go at once, from 30 addresses.
      const flows = await Promise.all(Array.from({ length: 30 }, (_, i) => totpCodePage(user.login, `192.0.2.${i + 1}`)));
      const answers = await Promise.all(flows.map(({ b, page }, i) => typeCode(b, page, '000000', `192.0.2.${i + 1}`)));
      const statuses = answers.map((a) => a.status);
      assert.equal(statuses.filter((st) => st === 400).length, MAX, statuses.join(' '));
      assert.equal(statuses.filter((st) => st === 429).length, 30 - MAX);
      assert.ok(checked <= MAX, `${checked} codes checked`);
    } finally {
      totp.prove = prove;
    }
  });

  it('a NAT\'d office: a stranger\'s wrong codes for unknown and other ids leave a colleague\'s reset from the same address working', async () => {
    const colleague = await withTotp(`colleague${++n}`);
    const other = await withTotp(`other${n}`);
    // The stranger blocks three unknown ids and a real account that is not theirs, all from the office address.
    let wrong = 0;
    for (const login of [`ghost${n}a`, `ghost${n}b`, `ghost${n}c`, other.login]) wrong += await guessUntilBlocked(login, OFFICE);
    assert.equal(wrong, 4 * MAX);
    // The colleague, same address, resets with the right code.
    const { b, page } = await totpCodePage(colleague.login, OFFICE);
    assert.match(page.url, /\/reset\/code$/, 'the colleague reaches the code page');
    const next = await typeCode(b, page, await colleague.code(), OFFICE);
    assert.match(next.url, /\/reset\/password$/, `the colleague's code is accepted: ${messageIds(next.html).join()}`);
    // Only past IP_FACTOR times the account limit is the address itself refused.
    assert.ok(wrong < MAX * IP_FACTOR);
  });

  it('a block says when it ends: on the reset page (en and nl), in Retry-After and in the audit event', async () => {
    const user = await withTotp(`shown${++n}`);
    await guessUntilBlocked(user.login, '203.0.113.5');
    const until = new Date(clock.now().getTime() + 24 * 3_600_000);
    for (const [lang, text] of [['en', /until \d{1,2} \w+ \d{4} at \d{2}:\d{2} UTC/], ['nl', /tot \d{1,2} \w+ \d{4} om \d{2}:\d{2} UTC/]] as const) {
      const { page } = await totpCodePage(user.login, '203.0.113.6', lang);
      assert.equal(page.status, 429);
      assert.deepEqual(messageIds(page.html), ['errors:sspr.throttled_until']);
      assert.match(page.html, text, lang);
      assert.equal(Number(page.headers.get('retry-after')), 24 * 3600);
    }
    const [event] = await srv.app.audit.query({ activity: 'sspr.reset.blocked', targetAccountId: user.id });
    assert.equal((event.details as { until?: string }).until, until.toISOString());
    // The sign-in block says it too.
    for (let i = 0; i < 4; i++) await signInStatus(user.login, `wrong ${i}`);
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const blocked = await signIn(b, (await rp.start(b)).page, user.login, user.password);
    assert.equal(blocked.status, 429);
    assert.deepEqual(messageIds(blocked.html), ['errors:sign_in_blocked_until']);
    assert.match(blocked.html, /after \d{1,2} \w+ \d{4} at \d{2}:\d{2} UTC/);
  });

  it('`user unblock <login>` lifts every block touching the account; `unblock --ip` lifts an address\'s (its IPv6 /64)', async () => {
    const user = await withTotp(`lifted${++n}`);
    // Blocked reset (guessed under the email spelling) and blocked sign-in.
    await guessUntilBlocked(user.email!, '203.0.113.7');
    for (let i = 0; i < 4; i++) await signInStatus(user.login, `wrong ${i}`);
    assert.equal(await signInStatus(user.login, user.password), 429);
    assert.equal((await totpCodePage(user.login, '203.0.113.8')).page.status, 429, 'the login spelling is blocked too');
    const lifted = await cli('user', 'unblock', user.login);
    assert.ok(Number(lifted.removed) >= 2);
    assert.equal(await signInStatus(user.login, user.password), 'ok');
    const { b, page } = await totpCodePage(user.login, '203.0.113.7');
    assert.match((await typeCode(b, page, await user.code(), '203.0.113.7')).url, /\/reset\/password$/);

    // An address that failed IP_FACTOR times the limit (one wrong code each for many ids, from
    // addresses inside one IPv6 /64) is refused for a new id; `unblock --ip` lifts it.
    const net = `2001:db8:${++n}:7`;
    for (let i = 0; i < MAX * IP_FACTOR; i++) {
      const { b: s, page: p } = await totpCodePage(`spray${n}-${i}`, `${net}::${i + 1}`);
      assert.equal((await typeCode(s, p, '000000', `${net}::${i + 1}`)).status, 400, `spray ${i}`);
    }
    const { b: s2, page: p2 } = await totpCodePage(`spray${n}-last`, `${net}:ffff::1`);
    assert.equal((await typeCode(s2, p2, '000000', `${net}:ffff::1`)).status, 429, 'the /64 is blocked');
    const r = await cli('unblock', '--ip', `${net}::abcd`);
    assert.equal(r.address, `${net}::/64`);
    const { b: s3, page: p3 } = await totpCodePage(`spray${n}-after`, `${net}::5`);
    assert.equal((await typeCode(s3, p3, '000000', `${net}::5`)).status, 400, 'answered again after the unblock');
    const events = await srv.app.audit.query({ activity: 'admin.ip_unblocked' });
    assert.equal(events.length, 1);
  });

  it('reloading the page that showed a wrong code shows it again and counts no second guess', async () => {
    const user = await withTotp(`reload${++n}`);
    const { b, page } = await totpCodePage(user.login, '203.0.113.9');
    const wrong = await typeCode(b, page, '000000', '203.0.113.9');
    assert.equal(wrong.status, 400);
    assert.deepEqual(messageIds(wrong.html), ['errors:sspr.code_invalid']);
    // A reload repeats the request that produced the page on screen.
    const last = b.history.at(-1)!;
    assert.match(last, /^GET \/reset\/code /, `the error page was reached by a redirect: ${b.history.slice(-2).join(', ')}`);
    for (let i = 0; i < MAX + 2; i++) {
      const again = await b.get(wrong.url);
      assert.equal(again.status, 200, 'the reloaded page is the plain code page');
    }
    const counted = await srv.app.store.models.Throttle.findOne({ where: { key: `reset_fail/acct:${user.id}` } });
    assert.equal(counted?.count, 1, 'one guess counted');
    const next = await typeCode(b, await b.get(wrong.url), await user.code(), '203.0.113.9');
    assert.match(next.url, /\/reset\/password$/);
  });
});
