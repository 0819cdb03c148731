/**
 * The helpdesk's Temporary Access Pass in the reset (issue 17): issued with the real CLI against the
 * server's own SQLite file, it is offered to every visitor, satisfies the whole proof once, and the
 * next sign-in asks for registration. Used, revoked and expired passes, and unknown ids, are refused
 * like a wrong code after the same work.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Browser, attr, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { cliOk, runCli } from '../support/cli.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, TEST_HASHING, TEST_SECRETS, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

const refusedAs = (page: Page) => messageIds(page.html).filter((id) => id.startsWith('errors:'));

describe('security: Temporary Access Pass', function () {
  this.timeout(60_000);
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let rp: RelyingParty;
  let config: string;
  let n = 0;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'all', methods: ['email', 'sms', 'totp'] } } });
    rp = await relyingParty(srv.issuer);
    config = join(db.dir, 'cli.yaml');
    const hashing = `password_hashing: { memory_kib: ${TEST_HASHING.memory_kib}, time_cost: ${TEST_HASHING.time_cost}, parallelism: ${TEST_HASHING.parallelism} }`;
    writeFileSync(config, `database: ${db.url}\n${hashing}\nsecrets: { cookie_keys: [${TEST_SECRETS.cookie_keys[0]}], encryption_keys: [${TEST_SECRETS.encryption_keys[0]}] }\n`);
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  const tap = async (login: string, ...extra: string[]) => JSON.parse(cliOk(await runCli(['user', 'tap', login, '--json', ...extra], { config }), 'user tap').stdout) as { login: string; pass: string; expires_at: string; one_time: boolean };

  /** /reset up to the pass page: the method page offers the pass to everyone. */
  async function passPage(b: Browser, login: string): Promise<Page> {
    const start = await b.get(`${srv.issuer}/reset`);
    const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: login });
    assert.match(method.html, /<label for="method-temporary_access_pass"><input type="radio"[^>]*value="temporary_access_pass"[^>]*> Temporary Access Pass from your helpdesk<\/label>/);
    const page = await b.submit(method, { method: 'temporary_access_pass' });
    assert.match(page.html, /autocomplete="one-time-code"/);
    assert.doesNotMatch(page.html, /inputmode="numeric"/);
    return page;
  }

  async function resetWithPass(login: string, pass: string, password: string): Promise<Page> {
    const b = new Browser();
    const page = await passPage(b, login);
    const after = await b.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: pass });
    if (!/\/password$/.test(new URL(after.url).pathname)) return after;
    const names = [...after.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1]!, 'autocomplete') === 'new-password').map((m) => attr(m[1]!, 'name')!);
    return b.submit(after, { [names[0]!]: password, [names[1]!]: password });
  }

  it('a pass from the CLI resets the password of a user with no methods once; the next sign-in asks for registration', async () => {
    const user = await seedUser(srv.app, { login: `tap-user-${++n}` });
    const issued = await tap(user.login);
    assert.equal(issued.one_time, true);
    assert.match(issued.pass, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    const rows = JSON.stringify(await srv.app.store.sequelize.query('SELECT * FROM access_passes'));
    assert.ok(!rows.includes(issued.pass) && !rows.includes(issued.pass.replaceAll('-', '')), 'stored only hashed');

    const password = 'harbour violet kettle dune 64';
    const done = await resetWithPass(user.login, issued.pass.toUpperCase(), password);
    assert.equal(done.status, 200, refusedAs(done).join(','));
    assert.equal(await srv.app.directory.verifyPassword(user.id, password), true);
    const events = (await srv.app.audit.query({})).map((e) => e.activity);
    assert.ok(events.includes('admin.tap_issued') && events.includes('sspr.tap.used') && events.includes('sspr.reset.completed'), events.join(','));

    const b = new Browser();
    const { page } = await rp.start(b);
    const next = await signIn(b, page, user.login, password);
    assert.match(next.url, /\/register$/, 'registration at the next sign-in');

    const again = await resetWithPass(user.login, issued.pass, 'another fresh password 55');
    assert.deepEqual(refusedAs(again), ['errors:sspr.code_invalid'], 'a used pass is refused like a wrong code');
  });

  it('a revoked pass and an expired pass are refused like a wrong code; a reusable one works twice', async () => {
    const user = await seedUser(srv.app, { login: `tap-user-${++n}` });
    const revoked = await tap(user.login);
    cliOk(await runCli(['user', 'tap', user.login, '--revoke'], { config }));
    assert.deepEqual(refusedAs(await resetWithPass(user.login, revoked.pass, 'x')), ['errors:sspr.code_invalid']);

    const expiring = await tap(user.login, '--minutes', '10');
    await srv.app.store.sequelize.query("UPDATE access_passes SET expires_at = '2000-01-01 00:00:00.000 +00:00'");
    assert.deepEqual(refusedAs(await resetWithPass(user.login, expiring.pass, 'x')), ['errors:sspr.code_invalid']);

    const reusable = await tap(user.login, '--reusable');
    assert.equal(reusable.one_time, false);
    assert.equal((await resetWithPass(user.login, reusable.pass, 'first reusable password 11')).status, 200);
    assert.equal((await resetWithPass(user.login, reusable.pass, 'second reusable password 22')).status, 200);
  });

  it('an unknown id is offered the pass path with the same pages, and is refused after the same check', async () => {
    const user = await seedUser(srv.app, { login: `tap-user-${++n}` });
    const { pass } = await tap(user.login);
    const shape = (html: string) => html.replace(/name="csrf" value="[^"]+"/g, '');
    assert.equal(shape((await passPage(new Browser(), user.login)).html), shape((await passPage(new Browser(), `nobody-${n}`)).html));
    const before = await srv.app.audit.query({ activity: 'sspr.tap.refused' });
    assert.deepEqual(refusedAs(await resetWithPass(`nobody-${n}`, pass, 'x')), ['errors:sspr.code_invalid']);
    const after = await srv.app.audit.query({ activity: 'sspr.tap.refused' });
    assert.equal(after.length, before.length + 1, 'the pass was checked (and audited) for the unknown id too');
  });

  it('wrong passes are guesses like wrong codes: past failed_verifications.max even the right pass is not checked', async () => {
    const user = await seedUser(srv.app, { login: `tap-user-${++n}` });
    const { pass } = await tap(user.login);
    const max = srv.config.sspr.throttle.failed_verifications.max;
    for (let i = 0; i < max; i++) assert.deepEqual(refusedAs(await resetWithPass(user.login, 'zzzz-zzzz-zzzz', 'x')), ['errors:sspr.code_invalid']);
    const blocked = await resetWithPass(user.login, pass, 'x');
    assert.ok(refusedAs(blocked).some((id) => /throttled/.test(id)), refusedAs(blocked).join(','));
    const used = await srv.app.store.sequelize.query("SELECT used_at FROM access_passes WHERE used_at IS NOT NULL AND account_id = :id", { replacements: { id: user.id } });
    assert.equal((used[0] as unknown[]).length, 0, 'the right pass was not checked, nor used up');
  });

  it('ten concurrent resets with one one-time pass: exactly one passes', async () => {
    const user = await seedUser(srv.app, { login: `tap-user-${++n}` });
    const { pass } = await tap(user.login);
    const browsers = Array.from({ length: 10 }, () => new Browser());
    const pages = await Promise.all(browsers.map((b) => passPage(b, user.login)));
    const results = await Promise.all(browsers.map((b, i) => b.submit(pages[i]!, { [inputByAutocomplete(pages[i]!.html, 'one-time-code')]: pass })));
    assert.equal(results.filter((r) => /\/password$/.test(new URL(r.url).pathname)).length, 1);
  });
});
