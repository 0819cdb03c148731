import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QueryTypes } from 'sequelize';
import { systemClock } from '../../../src/clock.ts';
import { createAccessPassService, normalisePass, type AccessPassService } from '../../../src/sspr/access-pass.ts';
import { createCodeHasher } from '../../../src/sspr/crypto.ts';
import { createAccessPassRepository } from '../../../src/store/access-pass-repository.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { assertOneLineError, cliOk, runCli, type CliResult } from '../../support/cli.ts';

const HASHING = 'password_hashing: { memory_kib: 8192, time_cost: 1, parallelism: 1 }';
const KEY = 'tap-cli-test-encryption-key-0123456789';

interface TapJson { login: string; pass: string; expires_at: string; one_time: boolean }

describe('admin CLI: user tap (Temporary Access Pass, child process, SQLite)', function () {
  this.timeout(60_000);
  let dir: string;
  let config: string;
  let disabledConfig: string;
  let store: Store;
  let taps: AccessPassService;
  const run = (args: string[], file = config) => runCli(args, { config: file });
  const json = <T>(r: CliResult): T => JSON.parse(cliOk(r).stdout) as T;
  const aliceId = async () => (await store.models.Account.findOne({ where: { login: 'alice' } }))?.id ?? assert.fail('alice');
  const counts = async () => ({
    passes: (await store.sequelize.query<{ n: number }>('SELECT COUNT(*) AS n FROM access_passes', { type: QueryTypes.SELECT }))[0].n,
    audit: await store.models.AuditEvent.count(),
  });
  async function refused(args: string[], code: number, pattern: RegExp, file = config): Promise<void> {
    const before = await counts();
    assertOneLineError(await run(args, file), code, pattern);
    assert.deepEqual(await counts(), before, `no rows written by ${args.join(' ')}`);
  }
  async function lastAudit() {
    return store.models.AuditEvent.findOne({ order: [['time', 'DESC'], ['id', 'DESC']] });
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-tap-'));
    const common = `database: sqlite:${join(dir, 'x.sqlite')}\n${HASHING}\nsecrets: { cookie_keys: [tap-cli-cookie-key-0123456789], encryption_keys: [${KEY}] }\n`;
    config = join(dir, 'oidc-sspr.yaml');
    writeFileSync(config, `${common}sspr:\n  temporary_access_pass: { enabled: true, max_minutes: 1440 }\n`);
    disabledConfig = join(dir, 'disabled.yaml');
    writeFileSync(disabledConfig, `${common}sspr:\n  temporary_access_pass: { enabled: false }\n`);
    cliOk(await run(['user', 'add', 'alice', '--password', 'correct horse battery staple 42']));
    store = await openStore({ url: `sqlite:${join(dir, 'x.sqlite')}` });
    // The server's side of the pass: the same key, the same table.
    taps = createAccessPassService({
      repository: createAccessPassRepository(store), clock: systemClock, hasher: createCodeHasher([KEY]), policy: { enabled: true, max_minutes: 1440 },
    });
  });
  after(async () => {
    await store?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('user tap --json prints the pass once (login, pass, expires_at, one_time), audited as admin.tap_issued by the OS user', async () => {
    const before = Date.now();
    const out = json<TapJson>(await run(['user', 'tap', 'Alice', '--json']));
    assert.deepEqual(Object.keys(out).sort(), ['expires_at', 'login', 'one_time', 'pass']);
    assert.equal(out.login, 'alice');
    assert.equal(out.one_time, true);
    assert.match(out.pass, /^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    const lifetime = Date.parse(out.expires_at) - before;
    assert.ok(lifetime > 59 * 60_000 && lifetime <= 61 * 60_000, `60 minutes by default, got ${lifetime} ms`);
    const event = await lastAudit();
    assert.equal(event?.activity, 'admin.tap_issued');
    assert.match(event?.actor ?? '', /^cli:.+/);
    assert.equal(event?.target, 'alice');
    // Stored only hashed: no row of any table holds it.
    for (const table of ['access_passes', 'audit_events']) {
      const rows = JSON.stringify(await store.sequelize.query(`SELECT * FROM ${table}`, { type: QueryTypes.SELECT }));
      assert.ok(!rows.includes(out.pass) && !rows.includes(normalisePass(out.pass)), `${table} holds the pass`);
    }
    // The server, with the same key, accepts it once.
    assert.equal(await taps.verify(await aliceId(), out.pass), true);
    assert.equal(await taps.verify(await aliceId(), out.pass), false);
  });

  it('user tap --reusable --minutes 1440 in text: the pass on its own line, reusable for a day', async () => {
    const r = cliOk(await run(['user', 'tap', 'alice', '--reusable', '--minutes', '1440']));
    const pass = /: ([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})$/m.exec(r.stdout)?.[1] ?? assert.fail(r.stdout);
    assert.match(r.stdout, /reusable, expires /);
    assert.equal(await taps.verify(await aliceId(), pass), true);
    assert.equal(await taps.verify(await aliceId(), pass), true);
  });

  it('user tap --revoke ends every pass of the user, audited as admin.tap_revoked', async () => {
    const { pass } = json<TapJson>(await run(['user', 'tap', 'alice', '--reusable', '--json']));
    const out = json<{ login: string; revoked: number }>(await run(['user', 'tap', 'alice', '--revoke', '--json']));
    assert.deepEqual(out, { login: 'alice', revoked: 1 });
    const event = await lastAudit();
    assert.equal(event?.activity, 'admin.tap_revoked');
    assert.match(event?.actor ?? '', /^cli:.+/);
    assert.deepEqual(await taps.check(await aliceId(), pass), { ok: false, reason: 'revoked' });
  });

  it('refused with one line on stderr and nothing written: minutes out of range, an unknown user, a disabled feature', async () => {
    await refused(['user', 'tap', 'alice', '--minutes', '9'], 1, /minutes: must be a whole number from 10 to 1440/);
    await refused(['user', 'tap', 'alice', '--minutes', '1441'], 1, /minutes: must be a whole number from 10 to 1440/);
    await refused(['user', 'tap', 'alice', '--minutes', 'ten'], 2, /--minutes: "ten" is not a whole number/);
    await refused(['user', 'tap', 'nobody'], 1, /user "nobody" not found/);
    await refused(['user', 'tap', 'nobody', '--revoke'], 1, /user "nobody" not found/);
    await refused(['user', 'tap', 'alice', '--revoke', '--reusable'], 2, /--revoke takes no --minutes or --reusable/);
    await refused(['user', 'tap', 'alice'], 1, /Temporary Access Passes are disabled \(sspr\.temporary_access_pass\.enabled: false\)/, disabledConfig);
    // Disabled or not, an unknown user is not what the refusal talks about.
    await refused(['user', 'tap', 'nobody'], 1, /disabled/, disabledConfig);
  });

  it('config: max_minutes outside 10..1440 is a config error; config check prints the setting', async () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, `database: sqlite:${join(dir, 'x.sqlite')}\nsspr:\n  temporary_access_pass: { max_minutes: 5 }\n`);
    assertOneLineError(await run(['config', 'check'], bad), 1, /sspr\.temporary_access_pass\.max_minutes/);
    const check = cliOk(await run(['config', 'check']));
    assert.match(check.stdout, /sspr\.temporary_access_pass\.enabled\s+true\s+\(file\)/);
    assert.match(check.stdout, /sspr\.temporary_access_pass\.max_minutes\s+1440\s+\(file\)/);
  });
});
