import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import { Browser, inputByAutocomplete, link, messageIds, type Page } from '../support/browser.ts';
import { cliOk, runCli, type CliResult } from '../support/cli.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { TEST_HASHING, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startGateway, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

/**
 * The acceptance of the audit trail, end to end: a registration and a reset through the real pages,
 * then the admin CLI (a child process on the same SQLite file, as an admin runs it) lists each step
 * with the INTERFACE.md fields, correlated per flow, with nothing secret in it; the reports count right.
 */

const FIELDS = ['time', 'activity', 'name', 'result', 'reason', 'actor', 'target', 'client_id', 'ip', 'user_agent', 'correlation_id'];
const USER_AGENT = 'Mozilla/5.0 (audit-trail test)';
const NEW_PASSWORD = 'quartz heron mosaic 2718';

interface AuditRecord {
  time: string; activity: string; name: string; result: string; reason: string | null; actor: string | null; target: string | null;
  client_id: string | null; ip: string | null; user_agent: string | null; correlation_id: string | null; details: Record<string, unknown> | null;
}
const cli = (config: string, args: string[]) => runCli(args, { config });
const ok = (r: CliResult, what: string): string => cliOk(r, what).stdout;

const wrong = (code: string) => [...code].map((d) => String((Number(d) + 1) % 10)).join('');

describe('audit trail and reports after a registration and a reset (CLI on the same SQLite file)', function () {
  this.timeout(60_000);
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  let rp: RelyingParty;
  let config: string;
  const users: Record<string, SeededUser> = {};
  /** Everything that must never show up in the audit output. */
  const secrets: string[] = [];
  let wrongResetCodes = 0;

  const sspr = { enabled_for: 'selected' as const, groups: ['pilot'], methods: ['email' as const, 'sms' as const, 'totp' as const], methods_required: 1 as const, reconfirm_after_days: 180 };

  const browser = () => {
    const b = new Browser();
    b.userAgent = USER_AGENT;
    return b;
  };
  const codeFrom = async (to: string, since: number) => {
    await waitFor(() => smtp.received.slice(since).some((m) => m.to.includes(to)));
    return smtp.received.slice(since).find((m) => m.to.includes(to))!.text.match(CODE_RUN)![0];
  };
  const textedCode = async (to: string, since: number) => {
    const mine = () => gateway.requests.slice(since).map((r) => JSON.parse(r.body) as { to: string; text: string }).filter((r) => r.to === to);
    await waitFor(() => mine().length > 0);
    return mine()[0].text.match(CODE_RUN)![0];
  };
  const audit = async (...args: string[]) => JSON.parse(ok(await cli(config, ['audit', '--json', ...args]), `audit ${args.join(' ')}`)) as AuditRecord[];

  before(async () => {
    smtp = await startSmtpServer();
    gateway = await startGateway();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      overrides: {
        sspr,
        delivery: {
          outbox_dir: join(db.dir, 'outbox'),
          email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
          sms: { transport: 'http', http: { url: gateway.url } },
        },
      },
    });
    rp = await relyingParty(srv.issuer);
    config = join(db.dir, 'oidc-sspr.yaml');
    writeFileSync(config, [
      `database: ${db.url}`,
      `password_hashing: { memory_kib: ${TEST_HASHING.memory_kib}, time_cost: ${TEST_HASHING.time_cost}, parallelism: ${TEST_HASHING.parallelism} }`,
      'sspr:',
      `  enabled_for: ${sspr.enabled_for}`,
      `  groups: [${sspr.groups.join(', ')}]`,
      `  methods: [${sspr.methods.join(', ')}]`,
      `  methods_required: ${sspr.methods_required}`,
      `  reconfirm_after_days: ${sspr.reconfirm_after_days}`,
      '',
    ].join('\n'));

    // A seeded directory: users in and out of scope, registered and not.
    users.reg = await seedUser(srv.app, { login: 'reg', email: 'reg.profile@example.org', phone: '+31612345678', groups: ['pilot'] });
    users.rst = await seedUser(srv.app, { login: 'rst', email: 'rst.profile@example.org', groups: ['pilot'] });
    users.blk = await seedUser(srv.app, { login: 'blk', email: 'blk.profile@example.org', groups: ['pilot'] });
    users.idle = await seedUser(srv.app, { login: 'idle', groups: ['pilot'] });
    users.boss = await seedUser(srv.app, { login: 'boss', admin: true });
    users.out = await seedUser(srv.app, { login: 'out' });
    await srv.app.sspr.methodRepo.saveVerified({ accountId: users.rst.id, type: 'email', target: 'rst.private@example.net' });
    await srv.app.sspr.methodRepo.saveVerified({ accountId: users.blk.id, type: 'email', target: 'blk.private@example.net' });
    secrets.push(
      ...Object.values(users).map((u) => u.password), NEW_PASSWORD,
      ...Object.values(users).flatMap((u) => (u.email ? [u.email] : [])),
      'rst.private@example.net', 'blk.private@example.net', 'reg.recovery@example.net',
      '+31612345678', '0612345678', '612345678', '+31687654321', '687654321',
    );

    // 1. reg signs in at the client and is made to register: email, SMS and the authenticator app.
    {
      const b = browser();
      const start = await rp.start(b);
      const register = await signIn(b, start.page, 'reg', users.reg.password);
      assert.match(register.url, /\/register$/);
      const emailTarget = await b.submit(register, { method: 'email' }, { actionPart: '/method' });
      let since = smtp.received.length;
      const emailCode = await b.submit(emailTarget, { email: 'reg.recovery@example.net' }, { actionPart: '/target' });
      const mailed = await codeFrom('reg.recovery@example.net', since);
      secrets.push(mailed);
      const afterEmail = await b.submit(emailCode, { code: mailed }, { actionPart: '/verify' });
      assert.ok(messageIds(afterEmail.html).includes('registration:added'));

      const smsTarget = await b.submit(afterEmail, { method: 'sms' }, { actionPart: '/method' });
      since = gateway.requests.length;
      const smsCode = await b.submit(smsTarget, { phone: '06 87654321' }, { actionPart: '/target' });
      const texted = await textedCode('+31687654321', since);
      secrets.push(texted);
      const afterSms = await b.submit(smsCode, { code: texted }, { actionPart: '/verify' });
      assert.ok(messageIds(afterSms.html).includes('registration:added'));

      const totpPage = await b.submit(afterSms, { method: 'totp' }, { actionPart: '/method' });
      const secret = /id="totp-secret">([\s\S]*?)<\/code>/.exec(totpPage.html)![1].replace(/<[^>]+>/g, '');
      const totp = await generate({ secret, epoch: Math.floor(Date.now() / 1000) });
      secrets.push(secret, totp);
      const afterTotp = await b.submit(totpPage, { code: totp }, { actionPart: '/verify' });
      assert.ok(messageIds(afterTotp.html).includes('registration:added'), afterTotp.html.slice(0, 1500));
      since = smtp.received.length;
      const done = await consentIfAsked(b, await b.submit(afterTotp, {}, { actionPart: '/finish' }));
      assert.ok(done.redirectedTo?.startsWith(rp.redirectUri));
      await rp.finish(done.redirectedTo!, start.verifier, start.state);
    }

    // 2. rst forgets the password: from the sign-in link, one wrong code, the right one, a new password, signs in.
    {
      const b = browser();
      const start = await rp.start(b);
      const identifier = await b.get(new URL(link(start.page.html, 'forgot-password'), srv.issuer).toString());
      const method = await b.submit(identifier, { [inputByAutocomplete(identifier.html, 'username')]: 'rst' });
      const target = await b.submit(method, { method: 'email' });
      const since = smtp.received.length;
      const codePage = await b.submit(target, { target: 'rst.private@example.net' });
      const code = await codeFrom('rst.private@example.net', since);
      secrets.push(code, wrong(code));
      const refused = await b.submit(codePage, { code: wrong(code) });
      assert.equal(refused.status, 400);
      wrongResetCodes += 1;
      const passwordPage = await b.submit(refused, { code });
      assert.match(passwordPage.url, /\/reset\/password$/);
      const signInPage = await b.submit(passwordPage, { new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD });
      assert.deepEqual(messageIds(signInPage.html), ['reset:done.sign_in']);
      const done = await consentIfAsked(b, await b.submit(signInPage, { login: 'rst', password: NEW_PASSWORD }));
      assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `${done.status} ${done.url}`);
      await rp.finish(done.redirectedTo!, start.verifier, start.state);
    }

    // 3. Someone guesses codes for blk until the account's reset is blocked.
    {
      const b = browser();
      const identifier = await b.get(`${srv.issuer}/reset`);
      const method = await b.submit(identifier, { login: 'blk' });
      const target = await b.submit(method, { method: 'email' });
      const since = smtp.received.length;
      let page: Page = await b.submit(target, { target: 'blk.private@example.net' });
      const code = await codeFrom('blk.private@example.net', since);
      secrets.push(code, wrong(code));
      // The code's own limit answers first (too_many_attempts); the account's block comes after it.
      const blockedPage = (p: Page) => p.html.includes('data-message-id="errors:sspr.throttled_until"');
      for (let i = 0; i < 8 && !blockedPage(page); i++) {
        page = await b.submit(page, { code: wrong(code) });
        if (!blockedPage(page)) wrongResetCodes += 1; // each one a `sspr.reset.failed` event
      }
      assert.equal(page.status, 429, 'blocked after repeated wrong codes');
      assert.ok(blockedPage(page), 'the block, with its end');
    }

    // Notices go out in the background; wait until the queue is empty so the trail is complete.
    const { Delivery } = srv.app.store.models;
    const until = Date.now() + 5000;
    while ((await Delivery.count({ where: { status: ['pending', 'sending'] } })) > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 25));
  });

  after(async () => {
    await srv?.close();
    await smtp?.close();
    await gateway?.close();
    await db?.drop();
  });

  it('audit --json: every event has the INTERFACE.md fields', async () => {
    const all = await audit();
    assert.ok(all.length >= 15, `${all.length} events`);
    for (const e of all) {
      for (const f of FIELDS) assert.ok(f in e, `${e.activity} has ${f}`);
      assert.ok(!Number.isNaN(Date.parse(e.time)) && e.time.endsWith('Z'), `ISO time: ${e.time}`);
      assert.match(e.activity, /^[a-z_]+(\.[a-z_]+)+$/);
      assert.ok(e.name && e.name !== e.activity, `a readable name for ${e.activity}`);
      assert.ok(['success', 'failure', 'blocked', 'info'].includes(e.result), e.result);
    }
  });

  it('the registration: sign-in, started, three methods verified, completed; one correlation id; who, where and which client', async () => {
    const events = await audit('--user', 'reg');
    const steps = events.filter((e) => e.activity.startsWith('sspr.registration.') || e.activity.startsWith('auth.sign_in.'));
    assert.deepEqual(steps.map((e) => `${e.activity}:${e.result}`), [
      'auth.sign_in.succeeded:success',
      'sspr.registration.started:info',
      'sspr.registration.method_verified:success',
      'sspr.registration.method_verified:success',
      'sspr.registration.method_verified:success',
      'sspr.registration.completed:success',
    ]);
    assert.deepEqual(steps.filter((e) => e.activity === 'sspr.registration.method_verified').map((e) => e.details?.method), ['email', 'sms', 'totp']);
    assert.equal(steps.at(-1)!.name, 'User registered for self-service password reset');
    assert.equal(new Set(steps.map((e) => e.correlation_id)).size, 1, 'one correlation id for the sign-in and its registration');
    assert.ok(steps[0].correlation_id);
    for (const e of steps) {
      assert.equal(e.target, 'reg');
      assert.equal(e.client_id, 'test-app');
      assert.match(e.ip ?? '', /127\.0\.0\.1$/);
      assert.equal(e.user_agent, USER_AGENT);
    }
    // Adding SMS and the app told reg on the channels already registered; those notices belong to the same flow.
    const notices = events.filter((e) => e.activity === 'sspr.notice.sent');
    assert.ok(notices.length >= 2, `${notices.length} notices`);
    for (const n of notices) assert.equal(n.correlation_id, steps[0].correlation_id);
  });

  it('the reset: started, code sent, a wrong code, verified, completed; one correlation id of its own; the sign-in after it', async () => {
    const [events, regEvents] = await Promise.all([audit('--user', 'rst'), audit('--user', 'reg')]);
    const reset = events.filter((e) => e.activity.startsWith('sspr.reset.'));
    assert.deepEqual(reset.map((e) => `${e.activity}:${e.result}`), [
      'sspr.reset.started:info',
      'sspr.reset.code_sent:success',
      'sspr.reset.failed:failure',
      'sspr.reset.method_verified:success',
      'sspr.reset.completed:success',
    ]);
    assert.equal(reset.at(-1)!.name, 'Reset password (self-service)');
    assert.equal(reset[0].name, 'Self-service password reset flow activity progress');
    assert.equal(reset[2].reason, 'code_invalid');
    assert.equal(new Set(reset.map((e) => e.correlation_id)).size, 1, 'one correlation id for the reset');
    for (const e of reset) {
      assert.equal(e.target, 'rst');
      assert.equal(e.client_id, 'test-app', 'the reset began at the client\'s sign-in page');
      assert.match(e.ip ?? '', /127\.0\.0\.1$/);
      assert.equal(e.user_agent, USER_AGENT);
    }
    const regFlow = regEvents[0].correlation_id;
    assert.notEqual(reset[0].correlation_id, regFlow, 'another flow, another id');
    const signIn = events.filter((e) => e.activity === 'auth.sign_in.succeeded');
    assert.equal(signIn.length, 1, 'signed in once, with the new password, after the reset');
    assert.ok(Date.parse(signIn[0].time) >= Date.parse(reset.at(-1)!.time));
    // The password-changed notice went out and is part of the reset's trail.
    assert.ok(events.some((e) => e.activity === 'sspr.notice.sent' && e.correlation_id === reset[0].correlation_id));
  });

  it('the block: one "Blocked from self-service password reset" event; filters by activity and result agree', async () => {
    const [blocked, resets] = await Promise.all([audit('--result', 'blocked'), audit('--activity', 'sspr.reset.*')]);
    assert.deepEqual(blocked.map((e) => [e.activity, e.target, e.reason]), [['sspr.reset.blocked', 'blk', 'too_many_failed_verifications']]);
    assert.equal(blocked[0].name, 'Blocked from self-service password reset');
    assert.equal(blocked[0].client_id, null, 'the stand-alone /reset belongs to no client');
    assert.ok(resets.every((e) => e.activity.startsWith('sspr.reset.')));
    assert.equal(resets.filter((e) => e.activity === 'sspr.reset.blocked').length, 1);
    assert.equal(new Set(resets.filter((e) => e.target === 'blk').map((e) => e.correlation_id)).size, 1);
  });

  it('nothing secret anywhere in audit --json, --csv or the text table: no password, code, TOTP secret, address or number', async () => {
    const [json, csv, text] = await Promise.all([cli(config, ['audit', '--json']), cli(config, ['audit', '--csv']), cli(config, ['audit'])]);
    const outputs = { json: ok(json, 'audit --json'), csv: ok(csv, 'audit --csv'), text: ok(text, 'audit') };
    assert.ok(secrets.length > 20);
    for (const [format, out] of Object.entries(outputs)) {
      for (const s of secrets) assert.ok(!out.includes(s), `audit ${format} contains a secret: ${s}`);
      assert.doesNotMatch(out, /[\w.+-]+@[\w-]+\.[\w.]+/, `no email address at all in audit ${format}`);
      assert.doesNotMatch(out, /\+\d{8,}/, `no phone number in audit ${format}`);
    }
    assert.match(outputs.csv.split('\r\n')[0], /^time,activity,name,result,reason,actor,target,client_id,ip,user_agent,correlation_id/);
  });

  it('report usage and report registration count the seeded directory right', async () => {
    const [usageRun, registrationRun, textRun, scopeRun] = await Promise.all([
      cli(config, ['report', 'usage', '--json']),
      cli(config, ['report', 'registration', '--json']),
      cli(config, ['report', 'registration']),
      cli(config, ['scope', '--json']),
    ]);
    const usage = JSON.parse(ok(usageRun, 'report usage')) as {
      days: number; registrations: { completed: number; by_method: Record<string, number> };
      resets: { completed: number; failed: number; by_method: Record<string, number> }; blocks: number;
    };
    assert.deepEqual(usage, {
      days: 30,
      registrations: { completed: 1, by_method: { email: 1, sms: 1, totp: 1, recovery_codes: 0, passkey: 0 } },
      resets: { completed: 1, failed: wrongResetCodes, by_method: { email: 1, sms: 0, totp: 0, recovery_codes: 0, passkey: 0 } },
      blocks: 1,
    });
    assert.ok(wrongResetCodes >= 2);

    const rows = JSON.parse(ok(registrationRun, 'report registration')) as Array<{
      login: string; admin: boolean; methods: string[]; capable: boolean; reconfirm_due_at: string | null; last_reset_at: string | null;
    }>;
    const byLogin = Object.fromEntries(rows.map((r) => [r.login, r]));
    assert.deepEqual(rows.map((r) => r.login), ['blk', 'boss', 'idle', 'reg', 'rst'], 'users in scope only (not "out")');
    assert.deepEqual(rows.map((r) => [r.login, r.admin, r.methods, r.capable]), [
      ['blk', false, ['email'], true],
      ['boss', true, [], false],
      ['idle', false, [], false],
      ['reg', false, ['email', 'sms', 'totp'], true],
      ['rst', false, ['email'], true],
    ]);
    const dueInDays = (Date.parse(byLogin.reg.reconfirm_due_at!) - Date.now()) / 86_400_000;
    assert.ok(dueInDays > 179 && dueInDays <= 180, `reg reconfirms in ${dueInDays} days`);
    assert.ok(byLogin.rst.last_reset_at && Date.now() - Date.parse(byLogin.rst.last_reset_at) < 120_000, 'rst reset just now');
    assert.equal(byLogin.reg.last_reset_at, null);
    assert.equal(byLogin.blk.last_reset_at, null, 'a blocked attempt is no reset');

    const text = ok(textRun, 'report registration (text)');
    assert.match(text, /3 of 5 user\(s\) in scope can reset their password/);
    const scope = JSON.parse(ok(scopeRun, 'scope')) as { in_scope: Array<{ login: string; registration_due: unknown }>; out_of_scope: string[] };
    assert.deepEqual(scope.out_of_scope, ['out']);
    assert.deepEqual(scope.in_scope.filter((u) => u.registration_due !== false).map((u) => u.login), ['boss', 'idle']);
  });
});
