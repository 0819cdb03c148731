import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createPasswordHasher } from '../../../src/sspr/password-hash.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { assertOneLineError, cliOk, runCli, type CliResult } from '../../support/cli.ts';

const HASHING = 'password_hashing: { memory_kib: 8192, time_cost: 1, parallelism: 1 }';

type Result = CliResult;
const cli = (args: string[], options: { config: string; stdin?: string; env?: NodeJS.ProcessEnv }) => runCli(args, options);
const ok = (r: Result): Result => cliOk(r);

const json = <T = Record<string, unknown>>(r: Result): T => JSON.parse(ok(r).stdout) as T;

describe('admin CLI (child process, SQLite)', function () {
  this.timeout(60_000);
  let dir: string;
  let config: string;
  let store: Store;
  const run = (args: string[], stdin?: string) => cli(args, { config, stdin });

  /** Row counts that a refused command must leave unchanged. */
  async function snapshot() {
    const m = store.models;
    return {
      accounts: await m.Account.count(),
      groups: await m.Group.count(),
      memberships: await m.Membership.count(),
      audit: await m.AuditEvent.count(),
    };
  }
  async function lastAudit() {
    return store.models.AuditEvent.findOne({ order: [['time', 'DESC']] });
  }
  /** Runs a change and checks it wrote exactly one audit event, with the given activity and the CLI actor. */
  async function change(args: string[], activity: string, stdin?: string): Promise<Result> {
    const before = await store.models.AuditEvent.count();
    const r = ok(await run(args, stdin));
    assert.equal(await store.models.AuditEvent.count(), before + 1, `one audit event for ${args.join(' ')}`);
    const event = await lastAudit();
    assert.equal(event?.activity, activity);
    assert.match(event?.actor ?? '', /^cli:.+/);
    return r;
  }
  async function refused(args: string[], code: number, pattern: RegExp, stdin?: string): Promise<void> {
    const before = await snapshot();
    assertOneLineError(await run(args, stdin), code, pattern);
    assert.deepEqual(await snapshot(), before, `no rows changed by ${args.join(' ')}`);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-cli-'));
    config = join(dir, 'oidc-sspr.yaml');
    writeFileSync(config, `database: sqlite:${join(dir, 'x.sqlite')}\n${HASHING}\nsspr:\n  enabled_for: selected\n  groups: [Staff]\n`);
    // The first command creates and migrates the database; the test then watches it alongside.
    ok(await run(['group', 'list']));
    store = await openStore({ url: `sqlite:${join(dir, 'x.sqlite')}` });
  });
  after(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('user add, then show --json in the INTERFACE.md shape', async () => {
    const added = await change(['user', 'add', 'Bob', '--email', 'bob@example.org', '--phone', '06 12345678', '--name', 'Bob B', '--password', 'correct horse battery staple 42'], 'admin.user_added');
    assert.match(added.stdout, /added user "bob"/);
    const bob = json(await run(['user', 'show', 'BOB', '--json']));
    for (const key of ['login', 'email', 'phone', 'name', 'admin', 'disabled', 'groups', 'methods', 'confirmed_at', 'in_scope', 'methods_required', 'registration_due']) {
      assert.ok(key in bob, `user show --json has ${key}`);
    }
    assert.deepEqual(
      { login: bob.login, email: bob.email, phone: bob.phone, name: bob.name, admin: bob.admin, disabled: bob.disabled, groups: bob.groups, methods: bob.methods, confirmed_at: bob.confirmed_at },
      { login: 'bob', email: 'bob@example.org', phone: '+31612345678', name: 'Bob B', admin: false, disabled: false, groups: [], methods: [], confirmed_at: null },
    );
    // enabled_for: selected and bob is in no group yet.
    assert.equal(bob.in_scope, false);
    assert.equal(bob.registration_due, false);
    assert.equal(bob.methods_required, 1);
  });

  it('user add --password-stdin reads one line; --admin; user list --json', async () => {
    await change(['user', 'add', 'ada', '--admin', '--password-stdin'], 'admin.user_added', 'violet tugboat canyon 2931\nsecond line ignored\n');
    const hash = (await store.models.Account.findOne({ where: { login: 'ada' } }))?.passwordHash ?? '';
    const hasher = createPasswordHasher({ memory_kib: 8192, time_cost: 1, parallelism: 1 });
    assert.ok(await hasher.verify(hash, 'violet tugboat canyon 2931'));
    const list = json<Array<Record<string, unknown>>>(await run(['--json', 'user', 'list']));
    assert.deepEqual(list.map((u) => [u.login, u.admin]), [['ada', true], ['bob', false]]);
    const ada = json(await run(['user', 'show', 'ada', '--json']));
    assert.equal(ada.in_scope, true);
    assert.equal(ada.methods_required, 2);
    assert.equal(ada.registration_due, 'no_methods');
    const text = ok(await run(['user', 'list'])).stdout;
    assert.match(text, /^LOGIN\s+NAME/);
    assert.match(text, /\nbob\s+Bob B\s+no\s+no/);
  });

  it('refuses a duplicate user (case-insensitively) and a bad phone: exit 1, one line, nothing written', async () => {
    await refused(['user', 'add', 'weakling', '--password', 'password123'], 1, /password rejected/);
    await refused(['user', 'add', 'BOB', '--password', 'violet tugboat canyon 2931'], 1, /^error: user "bob" already exists$/);
    await refused(['user', 'add', 'carol', '--phone', '12', '--password', 'violet tugboat canyon 2931'], 1, /phone: "12" is not a valid phone number/);
    await refused(['user', 'add', 'carol', '--email', 'nope', '--password', 'violet tugboat canyon 2931'], 1, /email: "nope" is not a valid email address/);
  });

  it('an unknown user or group is one line and exit 1 for every command', async () => {
    for (const args of [
      ['user', 'show', 'nobody'],
      ['user', 'disable', 'nobody'],
      ['user', 'enable', 'nobody'],
      ['user', 'admin', 'nobody'],
      ['user', 'methods-reset', 'nobody'],
      ['user', 'unblock', 'nobody'],
      ['user', 'set-password', 'nobody', '--password', 'whatever pw'],
    ]) {
      await refused(args, 1, /^error: user "nobody" not found$/);
    }
    await refused(['group', 'add-member', 'nope', 'bob'], 1, /^error: group "nope" not found$/);
  });

  it('starts without the provider: a command that opens the store loads neither oidc-provider nor Koa', async () => {
    // Every admin command pays its start-up: oidc-provider and Koa were ≈ 0.35 s of it, loaded only
    // because the store imported a provider file for one helper. Any module that imports them at run
    // time where the store or a command can reach it brings them back, and this fails.
    const recorded = join(dir, 'packages.json');
    const env = { NODE_OPTIONS: `--import=${resolve(import.meta.dirname, '../../support/record-packages-at-exit.ts')}`, SSPR_RECORD_PACKAGES_TO: recorded };
    for (const args of [['--help'], ['--json', 'user', 'list']]) {
      const r = await cli(args, { config, env });
      assert.equal(r.code, 0, r.stderr);
      const packages = JSON.parse(readFileSync(recorded, 'utf8')) as string[];
      assert.ok(packages.includes('commander'), 'the recorder saw the CLI load');
      if (args[0] !== '--help') assert.ok(packages.includes('sequelize'), 'the command opened the store');
      const provider = packages.filter((p) => p === 'oidc-provider' || p === 'koa');
      assert.deepEqual(provider, [], `${args.join(' ')} loaded the provider's modules`);
    }
  });

  it('usage errors exit 2 with one line', async () => {
    await refused(['user', 'add', 'carol'], 2, /password is required/);
    await refused(['user', 'add', 'carol', '--password', 'a', '--password-stdin'], 2, /either --password or --password-stdin/, 'b\n');
    await refused(['user', 'set-password', 'bob', '--password-stdin'], 2, /empty line/, '');
    await refused(['user', 'show'], 2, /missing required argument 'login'/);
    await refused(['user', 'list', '--bogus'], 2, /unknown option '--bogus'/);
    await refused(['user', 'frobnicate'], 2, /unknown command 'frobnicate'/);
  });

  it('groups: add, add-member, list with counts, show, scope follows the group, remove-member', async () => {
    await change(['group', 'add', 'Staff'], 'admin.group_added');
    await refused(['group', 'add', 'staff'], 1, /^error: group "Staff" already exists$/);
    await change(['group', 'add-member', 'staff', 'Bob'], 'admin.group_member_added');
    assert.deepEqual(json(await run(['group', 'list', '--json'])), [{ name: 'Staff', members: 1 }]);
    const bob = json(await run(['user', 'show', 'bob', '--json']));
    assert.deepEqual(bob.groups, ['Staff']);
    assert.equal(bob.in_scope, true);
    assert.equal(bob.registration_due, 'no_methods');
    await change(['group', 'remove-member', 'Staff', 'bob'], 'admin.group_member_removed');
    assert.deepEqual(json(await run(['group', 'list', '--json'])), [{ name: 'Staff', members: 0 }]);
    await change(['group', 'add-member', 'Staff', 'bob'], 'admin.group_member_added');
  });

  it('user show masks method targets; methods-reset forgets them', async () => {
    const account = await store.models.Account.findOne({ where: { login: 'bob' } });
    assert.ok(account);
    const verifiedAt = new Date('2026-01-02T03:04:05Z');
    const { RecoveryMethod } = store.models;
    await RecoveryMethod.create({ id: 'm-email', accountId: account.id, type: 'email', target: 'bob.private@example.net', secretEnc: null, lastTimeStep: null, verifiedAt });
    await RecoveryMethod.create({ id: 'm-sms', accountId: account.id, type: 'sms', target: '+31687654321', secretEnc: null, lastTimeStep: null, verifiedAt });
    await RecoveryMethod.create({ id: 'm-totp', accountId: account.id, type: 'totp', target: null, secretEnc: 'enc', lastTimeStep: null, verifiedAt: null });
    const bob = json(await run(['user', 'show', 'bob', '--json']));
    assert.deepEqual(bob.methods, [
      { type: 'email', target: 'b***@example.net', verified_at: verifiedAt.toISOString() },
      { type: 'sms', target: '+31*******21', verified_at: verifiedAt.toISOString() },
      { type: 'totp', target: null, verified_at: null },
    ]);
    const text = ok(await run(['user', 'show', 'bob'])).stdout;
    assert.match(text, /sms \+31\*{7}21/);
    assert.doesNotMatch(text, /bob\.private|687654321/);
    const r = json(await change(['user', 'methods-reset', 'bob', '--json'], 'admin.methods_reset'));
    assert.equal(r.removed, 3);
    assert.equal(await RecoveryMethod.count({ where: { accountId: account.id } }), 0);
  });

  it('disable ends sessions and tokens; enable; admin on and off', async () => {
    const account = await store.models.Account.findOne({ where: { login: 'bob' } });
    assert.ok(account);
    const { OidcPayload } = store.models;
    await OidcPayload.create({ model: 'Session', id: 'sess-bob', payload: '{}', grantId: null, userCode: null, uid: 'u', accountId: account.id, expiresAt: null, consumedAt: null });
    await OidcPayload.create({ model: 'RefreshToken', id: 'rt-bob', payload: '{}', grantId: 'g-bob', userCode: null, uid: null, accountId: account.id, expiresAt: null, consumedAt: null });
    await change(['user', 'disable', 'bob'], 'admin.user_disabled');
    assert.equal(await OidcPayload.count({ where: { accountId: account.id } }), 0);
    assert.equal(json(await run(['user', 'show', 'bob', '--json'])).disabled, true);
    await change(['user', 'enable', 'bob'], 'admin.user_enabled');
    assert.equal(json(await run(['user', 'show', 'bob', '--json'])).disabled, false);
    await change(['user', 'admin', 'bob'], 'admin.admin_granted');
    assert.equal(json(await run(['user', 'show', 'bob', '--json'])).admin, true);
    await change(['user', 'admin', 'bob', '--off'], 'admin.admin_revoked');
    assert.equal(json(await run(['user', 'show', 'bob', '--json'])).admin, false);
  });

  it('set-password --password-stdin replaces the hash, revokes, audits admin.password_reset', async () => {
    const account = await store.models.Account.findOne({ where: { login: 'bob' } });
    assert.ok(account);
    await store.models.OidcPayload.create({ model: 'Session', id: 'sess-bob-2', payload: '{}', grantId: null, userCode: null, uid: 'u2', accountId: account.id, expiresAt: null, consumedAt: null });
    await change(['user', 'set-password', 'bob', '--password-stdin'], 'admin.password_reset', 'a brand new passphrase\r\n');
    await account.reload();
    const hasher = createPasswordHasher({ memory_kib: 8192, time_cost: 1, parallelism: 1 });
    assert.ok(await hasher.verify(account.passwordHash ?? '', 'a brand new passphrase'));
    assert.equal(await store.models.OidcPayload.count({ where: { accountId: account.id } }), 0);
  });

  it('user unblock lifts the throttles of the login, unblock --ip those of the address', async () => {
    const until = new Date(Date.now() + 3_600_000);
    await store.models.Throttle.create({ key: 'id:bob', count: 9, windowEndsAt: until, blockedUntil: until });
    await store.models.Throttle.create({ key: 'id:bob|ip:192.0.2.1', count: 9, windowEndsAt: until, blockedUntil: until });
    await store.models.Throttle.create({ key: 'ip:192.0.2.1', count: 9, windowEndsAt: until, blockedUntil: until });
    await store.models.Throttle.create({ key: 'id:carol|ip:192.0.2.1', count: 9, windowEndsAt: until, blockedUntil: until });
    const r = json(await change(['user', 'unblock', 'bob', '--json'], 'admin.user_unblocked'));
    assert.equal(r.removed, 2);
    assert.deepEqual((await store.models.Throttle.findAll()).map((t) => t.key).sort(), ['id:carol|ip:192.0.2.1', 'ip:192.0.2.1']);
    const ip = json(await change(['unblock', '--ip', '192.0.2.1', '--json'], 'admin.ip_unblocked'));
    assert.deepEqual([ip.address, ip.removed], ['192.0.2.1', 2]);
    assert.equal(await store.models.Throttle.count(), 0);
  });

  describe('config check', () => {
    it('prints the effective SSPR policy with value sources', async () => {
      const r = ok(await cli(['config', 'check'], { config, env: { OIDC_SSPR_METRICS_TOKEN: 'a-metrics-token' } }));
      assert.match(r.stdout, /: valid\n/);
      assert.match(r.stdout, /sspr\.enabled_for\s+selected\s+\(file\)/);
      assert.match(r.stdout, /sspr\.methods_required\s+1\s+\(default\)/);
      assert.match(r.stdout, /metrics\.token\s+\(set\)\s+\(env OIDC_SSPR_METRICS_TOKEN\)/);
      assert.doesNotMatch(r.stdout, /a-metrics-token/);
      const j = json<{ valid: boolean; sspr: { groups: string[] }; values: Record<string, { value: unknown; source: string }> }>(await run(['config', 'check', '--json']));
      assert.equal(j.valid, true);
      assert.deepEqual(j.sspr.groups, ['Staff']);
      assert.deepEqual(j.values['sspr.groups'], { value: ['Staff'], source: 'file' });
    });

    it('a bad file exits 1 with one line naming the key path', async () => {
      const bad = join(dir, 'bad.yaml');
      writeFileSync(bad, `database: sqlite:${join(dir, 'x.sqlite')}\nsspr:\n  methods_required: 3\n`);
      assertOneLineError(await cli(['config', 'check'], { config: bad }), 1, /sspr\.methods_required: must be 1 or 2/);
      writeFileSync(bad, `database: sqlite:${join(dir, 'x.sqlite')}\nsspr:\n  metods: [email]\n`);
      assertOneLineError(await cli(['config', 'check'], { config: bad }), 1, /sspr: unknown key "metods"/);
      // Every command refuses to run on a bad file, and --config wins over OIDC_SSPR_CONFIG.
      assertOneLineError(await cli(['user', 'list', '--config', bad], { config }), 1, /sspr: unknown key "metods"/);
      assertOneLineError(await cli(['user', 'list'], { config: join(dir, 'missing.yaml') }), 1, /config file not found/);
    });
  });
});
