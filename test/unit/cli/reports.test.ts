import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createAuditLog, type AuditInput } from '../../../src/audit/index.ts';
import { assertOneLineError, cliOk, runCli, type CliResult } from '../../support/cli.ts';
import { loadOrCreateSigningKeys } from '../../../src/provider/keys.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { defineSsprModels } from '../../../src/store/sspr-models.ts';

const DAY = 86_400_000;

type Result = CliResult;
const cli = (args: string[], config: string) => runCli(args, { config });
const ok = (r: Result): Result => cliOk(r);

const json = <T>(r: Result): T => JSON.parse(ok(r).stdout) as T;


/** A small RFC 4180 reader, so the test checks quoting rather than trusting it. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i++; } else if (c === '"') quoted = false; else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(field); field = ''; } else if (c === '\r' && text[i + 1] === '\n') { row.push(field); rows.push(row); row = []; field = ''; i++; } else field += c;
  }
  if (field !== '' || row.length) { row.push(field); rows.push(row); }
  return rows;
}

interface AuditJson {
  time: string; activity: string; name: string; result: string; reason: string | null; actor: string | null; target: string | null;
  client_id: string | null; ip: string | null; user_agent: string | null; correlation_id: string | null; details: Record<string, unknown> | null;
}
interface Usage { days: number; registrations: { completed: number; by_method: Record<string, number> }; resets: { completed: number; failed: number; by_method: Record<string, number> }; blocks: number }
interface RegistrationRow { login: string; admin: boolean; methods: string[]; capable: boolean; reconfirm_due_at: string | null; last_reset_at: string | null }

/** Values that exist in the database and must never reach audit or report output. */
const SECRETS = ['bob.private@example.net', '+31687654321', '687654321', 'ENCRYPTED-TOTP-SECRET', 'hunter2-never-printed', 'argon2-hash-of-password'];

describe('admin CLI: audit, reports, scope, keys (child process, seeded SQLite)', function () {
  this.timeout(60_000);
  let dir: string;
  let config: string;
  let store: Store;
  const now = Date.now();
  const daysAgo = (n: number) => new Date(now - n * DAY);
  const ids: Record<string, string> = {};
  const run = (...args: string[]) => cli(args, config);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-reports-'));
    config = join(dir, 'oidc-sspr.yaml');
    const db = join(dir, 'x.sqlite');
    writeFileSync(config, [
      `database: sqlite:${db}`,
      'sspr:',
      '  enabled_for: selected',
      '  groups: [Staff, Ghosts, staff-nl]',
      '  methods: [email, sms, totp]',
      '  methods_required: 1',
      '  reconfirm_after_days: 180',
      '',
    ].join('\n'));
    store = await openStore({ url: `sqlite:${db}` });
    const { Account, Group, Membership, RecoveryMethod } = store.models;
    const { SsprProfile } = defineSsprModels(store.sequelize);

    const account = async (login: string, opts: { admin?: boolean; disabled?: boolean } = {}) => {
      ids[login] = randomUUID();
      await Account.create({
        id: ids[login], login, email: `${login}@example.org`, emailVerified: false, phone: null, phoneVerified: false, name: null,
        passwordHash: 'argon2-hash-of-password', isAdmin: opts.admin === true, disabled: opts.disabled === true,
        passwordChangedAt: daysAgo(300), language: null,
      });
    };
    const method = (login: string, type: string, target: string | null, verifiedAt: Date | null) => RecoveryMethod.create({
      id: randomUUID(), accountId: ids[login], type, target, secretEnc: type === 'totp' ? 'ENCRYPTED-TOTP-SECRET' : null, lastTimeStep: null, verifiedAt,
    });

    await account('ada', { admin: true }); // admin, two types: capable
    await account('frank', { admin: true }); // admin, one type: too few (admins need two)
    await account('bob'); // Staff, email; confirmed 200 days ago: reconfirm due
    await account('carol'); // Staff, nothing verified
    await account('dave'); // no group: out of scope, though registered
    await account('erin', { disabled: true }); // Staff but disabled: out of scope
    await account('gus'); // Staff, sms: capable, reconfirm from its verification date (no profile)

    const staff = randomUUID();
    await Group.create({ id: staff, name: 'Staff' });
    await Group.create({ id: randomUUID(), name: 'Staff-NL' });
    for (const login of ['bob', 'carol', 'erin', 'gus']) await Membership.create({ groupId: staff, accountId: ids[login] });

    await method('ada', 'email', 'ada.private@example.net', daysAgo(10));
    await method('ada', 'totp', null, daysAgo(10));
    await method('frank', 'email', 'frank@example.net', daysAgo(3));
    await method('bob', 'email', 'bob.private@example.net', daysAgo(200));
    await method('bob', 'sms', '+31687654321', null); // started, never verified: counts for nothing
    await method('dave', 'totp', null, daysAgo(50));
    await method('gus', 'sms', '+31612340000', daysAgo(20));
    await SsprProfile.create({ accountId: ids.ada, confirmedAt: daysAgo(10), lastResetAt: null });
    await SsprProfile.create({ accountId: ids.bob, confirmedAt: daysAgo(200), lastResetAt: daysAgo(2) });

    // Audit events, written as the flows write them, at chosen times.
    let at = new Date(now);
    const audit = createAuditLog(store, { now: () => at });
    const ev = (when: Date, login: string | null, e: Omit<AuditInput, 'target' | 'targetAccountId'>) => {
      at = when;
      return audit.record({ ...e, target: login, targetAccountId: login ? ids[login] : null });
    };
    const web = (flow: string) => ({ ip: '192.0.2.7', userAgent: 'Mozilla/5.0 (X11; Linux), "Chromium"', clientId: 'demo-app', correlationId: flow });
    // Inside the 30-day window.
    await ev(daysAgo(5), 'bob', { activity: 'sspr.registration.started', result: 'info', actor: 'bob', context: web('reg-bob') });
    await ev(daysAgo(5), 'bob', { activity: 'sspr.registration.method_verified', result: 'failure', reason: 'code_invalid', actor: 'bob', context: web('reg-bob'), details: { method: 'sms' } });
    await ev(daysAgo(5), 'bob', { activity: 'sspr.registration.method_verified', result: 'success', actor: 'bob', context: web('reg-bob'), details: { method: 'email' } });
    await ev(daysAgo(5), 'bob', { activity: 'sspr.registration.completed', result: 'success', actor: 'bob', context: web('reg-bob'), details: { methods: ['email'] } });
    await ev(daysAgo(4), 'ada', { activity: 'sspr.registration.method_verified', result: 'success', actor: 'ada', context: web('reg-ada'), details: { method: 'email' } });
    await ev(daysAgo(4), 'ada', { activity: 'sspr.registration.method_verified', result: 'success', actor: 'ada', context: web('reg-ada'), details: { method: 'totp' } });
    await ev(daysAgo(4), 'ada', { activity: 'sspr.registration.completed', result: 'success', actor: 'ada', context: web('reg-ada'), details: { methods: ['email', 'totp'] } });
    await ev(daysAgo(3), null, { activity: 'sspr.reset.blocked', result: 'blocked', reason: 'too_many_failed_verifications', context: web('reset-x'), details: { method: 'sms' } });
    await ev(daysAgo(3), null, { activity: 'sspr.reset.failed', result: 'failure', reason: 'code_invalid', context: web('reset-x'), details: { method: 'sms' } });
    // Seconds apart: events of one millisecond come back in no defined order.
    const before = (ms: number) => new Date(daysAgo(2).getTime() - ms);
    await ev(before(3000), 'bob', { activity: 'sspr.reset.started', result: 'info', context: web('reset-bob') });
    await ev(before(2000), 'bob', { activity: 'sspr.reset.failed', result: 'failure', reason: 'code_expired', context: web('reset-bob'), details: { method: 'email' } });
    await ev(before(1000), 'bob', { activity: 'sspr.reset.method_verified', result: 'success', context: web('reset-bob'), details: { method: 'email', verified: 1, required: 1 } });
    await ev(daysAgo(2), 'bob', { activity: 'sspr.reset.completed', result: 'success', actor: 'bob', context: web('reset-bob'), details: { methods: ['email'] } });
    // A writer that slipped: the CLI still must not print it.
    await ev(daysAgo(1), 'ada', { activity: 'sspr.reset.completed', result: 'success', actor: 'ada', context: { ...web('reset-ada'), userAgent: '=HYPERLINK("http://evil.example")' }, details: { methods: ['email', 'totp'], password: 'hunter2-never-printed' } });
    await ev(daysAgo(1), 'carol', { activity: 'auth.sign_in.failed', result: 'failure', reason: 'wrong_password', context: web('signin-carol') });
    // Outside 30 days, inside 60.
    await ev(daysAgo(40), 'gus', { activity: 'sspr.registration.method_verified', result: 'success', actor: 'gus', details: { method: 'sms' } });
    await ev(daysAgo(40), 'gus', { activity: 'sspr.registration.completed', result: 'success', actor: 'gus', details: { methods: ['sms'] } });
    await ev(daysAgo(40), 'gus', { activity: 'sspr.reset.completed', result: 'success', actor: 'gus', details: { method: 'sms' } });
  });

  after(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('report usage: the last 30 days by default, --days widens the window', async () => {
    const u = json<Usage>(await run('report', 'usage', '--json'));
    assert.deepEqual(u, {
      days: 30,
      registrations: { completed: 2, by_method: { email: 2, sms: 0, totp: 1, recovery_codes: 0, passkey: 0 } },
      resets: { completed: 2, failed: 2, by_method: { email: 2, sms: 0, totp: 1, recovery_codes: 0, passkey: 0 } },
      blocks: 1,
    });
    const wide = json<Usage>(await run('--json', 'report', 'usage', '--days', '60'));
    assert.equal(wide.days, 60);
    assert.deepEqual(wide.registrations, { completed: 3, by_method: { email: 2, sms: 1, totp: 1, recovery_codes: 0, passkey: 0 } });
    assert.deepEqual(wide.resets, { completed: 3, failed: 2, by_method: { email: 2, sms: 1, totp: 1, recovery_codes: 0, passkey: 0 } });
    const text = ok(await run('report', 'usage')).stdout;
    assert.match(text, /registrations completed: 2\n/);
    assert.match(text, /resets failed:\s+2\n/);
    assert.match(text, /blocked:\s+1\n/);
    for (const bad of ['0', 'ten', '-3', '1.5']) {
      assertOneLineError(await run('report', 'usage', '--days', bad), 2, /--days/);
    }
  });

  it('report registration: one row per user in scope, with capable, reconfirm date and last reset', async () => {
    const rows = json<RegistrationRow[]>(await run('report', 'registration', '--json'));
    const iso = (n: number) => daysAgo(n).toISOString();
    assert.deepEqual(rows, [
      // Confirmed 10 days ago; last reset only known from the audit trail.
      { login: 'ada', admin: true, methods: ['email', 'totp'], capable: true, reconfirm_due_at: iso(10 - 180), last_reset_at: iso(1) },
      { login: 'bob', admin: false, methods: ['email'], capable: true, reconfirm_due_at: iso(200 - 180), last_reset_at: iso(2) },
      { login: 'carol', admin: false, methods: [], capable: false, reconfirm_due_at: null, last_reset_at: null },
      { login: 'frank', admin: true, methods: ['email'], capable: false, reconfirm_due_at: null, last_reset_at: null },
      // No confirmation recorded: the reconfirm date counts from the method's verification.
      { login: 'gus', admin: false, methods: ['sms'], capable: true, reconfirm_due_at: iso(20 - 180), last_reset_at: iso(40) },
    ]);
    const text = ok(await run('report', 'registration')).stdout;
    assert.match(text, /^LOGIN\s+ADMIN\s+METHODS\s+CAPABLE/);
    assert.match(text, /\nada\s+yes\s+email,totp\s+yes/);
    assert.match(text, /3 of 5 user\(s\) in scope can reset their password/);
  });

  it('scope: who is in scope and who still has to register', async () => {
    const s = json<{ in_scope: Array<{ login: string; registration_due: string | false }>; out_of_scope: string[] }>(await run('scope', '--json'));
    assert.deepEqual(s, {
      in_scope: [
        { login: 'ada', registration_due: false },
        { login: 'bob', registration_due: 'reconfirm_due' },
        { login: 'carol', registration_due: 'no_methods' },
        { login: 'frank', registration_due: 'too_few_methods' },
        { login: 'gus', registration_due: false },
      ],
      out_of_scope: ['dave', 'erin'],
    });
    const text = ok(await run('scope')).stdout;
    assert.match(text, /in scope: 5 user\(s\), 3 still to register or reconfirm/);
    assert.match(text, /out of scope: 2 user\(s\): dave, erin/);
  });

  it('audit --json: every event in order with the INTERFACE.md fields; filters combine', async () => {
    const all = json<AuditJson[]>(await run('audit', '--json'));
    assert.equal(all.length, 18);
    assert.deepEqual(Object.keys(all[0]).slice(0, 11), ['time', 'activity', 'name', 'result', 'reason', 'actor', 'target', 'client_id', 'ip', 'user_agent', 'correlation_id']);
    assert.deepEqual(all.map((e) => e.time), [...all.map((e) => e.time)].sort());
    const done = all.find((e) => e.activity === 'sspr.reset.completed' && e.target === 'bob');
    assert.deepEqual({ ...done, time: undefined }, {
      time: undefined, activity: 'sspr.reset.completed', name: 'Reset password (self-service)', result: 'success', reason: null, actor: 'bob', target: 'bob',
      client_id: 'demo-app', ip: '192.0.2.7', user_agent: 'Mozilla/5.0 (X11; Linux), "Chromium"', correlation_id: 'reset-bob', details: { methods: ['email'] },
    });
    const count = async (...filters: string[]) => json<AuditJson[]>(await run('audit', '--json', ...filters));
    assert.equal((await count('--activity', 'sspr.reset.*')).length, 8);
    assert.equal((await count('--activity', 'sspr.reset.completed')).length, 3);
    assert.equal((await count('--result', 'failure')).length, 4);
    assert.deepEqual((await count('--user', 'BOB', '--activity', 'sspr.reset.*')).map((e) => e.activity), ['sspr.reset.started', 'sspr.reset.failed', 'sspr.reset.method_verified', 'sspr.reset.completed']);
    assert.equal((await count('--since', daysAgo(10).toISOString().slice(0, 10))).length, 15);
    assert.equal((await count('--since', daysAgo(10).toISOString(), '--user', 'gus')).length, 0);
    // One flow's steps share a correlation id.
    assert.deepEqual(new Set(all.filter((e) => e.correlation_id === 'reset-bob').map((e) => e.target)), new Set(['bob']));
    const text = ok(await run('audit', '--user', 'bob')).stdout;
    assert.match(text, /^TIME\s+ACTIVITY\s+RESULT/);
    assert.match(text, /\n8 event\(s\)\n$/);
  });

  it('audit --csv: a header row, quoted fields, formulas defused', async () => {
    const r = ok(await run('audit', '--csv', '--activity', 'sspr.reset.completed'));
    const rows = parseCsv(r.stdout);
    assert.deepEqual(rows[0], ['time', 'activity', 'name', 'result', 'reason', 'actor', 'target', 'client_id', 'ip', 'user_agent', 'correlation_id', 'details']);
    assert.equal(rows.length, 4);
    assert.ok(rows.every((row) => row.length === 12));
    const bob = rows.find((row) => row[6] === 'bob');
    assert.equal(bob?.[9], 'Mozilla/5.0 (X11; Linux), "Chromium"');
    assert.deepEqual(JSON.parse(bob?.[11] ?? ''), { methods: ['email'] });
    const ada = rows.find((row) => row[6] === 'ada');
    assert.equal(ada?.[9], `'=HYPERLINK("http://evil.example")`);
    assertOneLineError(await run('audit', '--csv', '--json'), 2, /either --json or --csv/);
  });

  it('audit: bad filters are one line (usage: exit 2, unknown user: exit 1)', async () => {
    assertOneLineError(await run('audit', '--since', 'yesterday'), 2, /--since: "yesterday" is not an ISO date/);
    assertOneLineError(await run('audit', '--since', '2026-02-30'), 2, /--since/);
    assertOneLineError(await run('audit', '--since', '2026-01-01T25:00'), 2, /--since/);
    assertOneLineError(await run('audit', '--result', 'maybe'), 2, /--result: "maybe" is not one of success, failure, blocked, info/);
    assertOneLineError(await run('audit', '--activity', 'sspr.reset.complete'), 2, /--activity: unknown activity/);
    assertOneLineError(await run('audit', '--user', 'nobody'), 1, /^error: user "nobody" not found$/);
  });

  it('nothing secret in audit or report output', async () => {
    const outputs = await Promise.all([
      run('audit', '--json'), run('audit', '--csv'), run('audit'),
      run('report', 'registration', '--json'), run('report', 'usage', '--json'), run('scope', '--json'),
    ]);
    for (const r of outputs) {
      ok(r);
      for (const secret of SECRETS) assert.ok(!r.stdout.includes(secret), `output leaks ${secret}`);
    }
    const ada = json<AuditJson[]>(await run('audit', '--json', '--user', 'ada', '--activity', 'sspr.reset.completed'));
    assert.deepEqual(ada[0].details, { methods: ['email', 'totp'], password: '[redacted]' });
  });

  it('keys rotate: a new first kid, the old one still published, audited', async () => {
    const before = (await loadOrCreateSigningKeys(store)).keys.map((k) => String(k.kid));
    const r = json<{ kids: string[]; added: string[]; kept: string[] }>(await run('keys', 'rotate', '--json'));
    const after = (await loadOrCreateSigningKeys(store)).keys.map((k) => String(k.kid));
    assert.deepEqual(r.kids, after);
    assert.notEqual(after[0], before[0]);
    assert.ok(after.includes(before[0]), 'the previous signing key still verifies');
    assert.deepEqual(r.kept, before);
    assert.equal(r.added.length, after.length - before.length);
    const event = await store.models.AuditEvent.findOne({ where: { activity: 'admin.keys_rotated' } });
    assert.match(event?.actor ?? '', /^cli:.+/);
    assert.equal(event?.result, 'success');
    const raw = JSON.stringify(event?.get({ plain: true }));
    assert.ok(!/"d":|"p":|"q":|PRIVATE/.test(raw), 'no key material in the audit event');
    assert.match(ok(await run('keys', 'rotate')).stdout, /new signing key\(s\): /);
  });

  it('config check warns about sspr.groups names missing from the database', async () => {
    const r = ok(await run('config', 'check'));
    assert.match(r.stdout, /^warning: sspr\.groups: no group named "Ghosts" in the database/m);
    assert.match(r.stdout, /^warning: sspr\.groups: no group named "staff-nl" in the database \(there is "Staff-NL"; names must match exactly\)$/m);
    assert.doesNotMatch(r.stdout, /no group named "Staff"/);
    const j = json<{ valid: boolean; warnings: string[] }>(await run('config', 'check', '--json'));
    assert.equal(j.valid, true);
    assert.equal(j.warnings.filter((w) => w.startsWith('sspr.groups:')).length, 2);
    // A database that cannot be read is a warning, and the check creates nothing.
    const missing = join(dir, 'missing.yaml');
    writeFileSync(missing, `database: sqlite:${join(dir, 'nowhere', 'none.sqlite')}\nsspr:\n  enabled_for: selected\n  groups: [Staff]\n`);
    const m = ok(await cli(['config', 'check'], missing));
    assert.match(m.stdout, /^warning: sspr\.groups: not checked against the database: .*none\.sqlite does not exist yet$/m);
    const broken = join(dir, 'broken.yaml');
    writeFileSync(join(dir, 'junk.sqlite'), 'this is not a database');
    writeFileSync(broken, `database: sqlite:${join(dir, 'junk.sqlite')}\nsspr:\n  enabled_for: selected\n  groups: [Staff]\n`);
    const b = ok(await cli(['config', 'check'], broken));
    assert.match(b.stdout, /^warning: sspr\.groups: not checked against the database: .*junk\.sqlite could not be read \(/m);
  });
});
