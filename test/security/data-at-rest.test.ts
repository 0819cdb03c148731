/**
 * Issue 16, item 7: data at rest. The SQLite database holds the signing keys' private parts, so its
 * folder is 0700 and its files 0600 after `npm start` (also when an older version left them 0755 and
 * 0644); deleted rows are zeroed on disk (`PRAGMA secure_delete`); and a queued message holds no
 * plaintext code, neither while it waits (sealed) nor once it was sent or given up (overwritten), in
 * the table or anywhere in the database's files.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FAILED_MARKER, SENT_MARKER } from '../../src/delivery/queue.ts';
import { Browser, findForm, inputByAutocomplete, type Page } from '../support/browser.ts';
import { captureCodes } from '../support/codes.ts';
import { createSqliteDatabase } from '../support/db.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';
import { waitFor } from '../unit/delivery/helpers.ts';
import { compileCacheEnv } from '../support/compile-cache.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const mode = (path: string) => statSync(path).mode & 0o777;
const octal = (m: number) => m.toString(8).padStart(4, '0');

/** `npm start`'s entry point (src/main.ts) on a config in `dir`; resolves once it serves. */
async function start(dir: string, port: number): Promise<{ child: ChildProcess; output: () => string }> {
  let output = '';
  const child = spawn(process.execPath, ['src/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, ...compileCacheEnv(), OIDC_SSPR_CONFIG: join(dir, 'oidc-sspr.yaml'), HOST: '127.0.0.1', LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  await waitFor(() => output.includes('oidc-sspr is serving') || child.exitCode !== null, 30_000);
  assert.ok(output.includes('oidc-sspr is serving'), output);
  // Something that writes, so the WAL holds frames: a health check reads; migrations already wrote.
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(res.status, 200);
  return { child, output: () => output };
}

function stop(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  return new Promise((r) => {
    if (child.exitCode !== null) return r();
    child.once('exit', () => r());
    child.kill(signal);
  });
}

/** Every byte SQLite keeps for the database: the file, its WAL and its shared-memory index. */
function databaseBytes(file: string): Buffer {
  return Buffer.concat(['', '-wal', '-shm'].map((s) => `${file}${s}`).filter(existsSync).map((f) => readFileSync(f)));
}

async function checkpoint(srv: TestServer): Promise<void> {
  await srv.app.store.sequelize.query('PRAGMA wal_checkpoint(TRUNCATE)');
}

/** Identifier → email → the registered address: a code message is queued. */
async function requestEmailCode(issuer: string, login: string, address: string): Promise<Page> {
  const b = new Browser();
  const submit = async (page: Page, values: Record<string, string>) => {
    const form = findForm(page.html);
    return b.follow(new URL(form.action || page.url, page.url).toString(), { body: new URLSearchParams({ ...form.hidden, ...values }).toString() });
  };
  const first = await b.get(`${issuer}/reset`);
  const method = await submit(first, { [inputByAutocomplete(first.html, 'username')]: login });
  const target = await submit(method, { method: 'email' });
  return submit(target, { target: address });
}

describe('Issue 16 · data at rest', function () {
  describe('npm start: folder and file modes', function () {
    this.timeout(90_000);
    let dir: string;
    let port: number;
    let child: ChildProcess | undefined;
    const data = () => join(dir, 'data');
    const db = () => join(data(), 'oidc-sspr.sqlite');

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-modes-'));
      port = await freePort();
      writeFileSync(join(dir, 'oidc-sspr.yaml'), [
        `issuer: http://127.0.0.1:${port}`,
        `port: ${port}`,
        'database: sqlite:data/oidc-sspr.sqlite',
        'demo: false',
        'password_hashing: { memory_kib: 8192, time_cost: 1, parallelism: 1 }',
        'delivery: { outbox_dir: data/outbox }',
        '',
      ].join('\n'));
    });
    after(async () => {
      if (child) await stop(child, 'SIGTERM');
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    function assertPrivate(what: string): void {
      const problems: string[] = [];
      const want = (path: string, expected: number) => {
        if (mode(path) !== expected) problems.push(`${path}: ${octal(mode(path))}, want ${octal(expected)}`);
      };
      want(data(), 0o700);
      for (const f of [db(), `${db()}-wal`, `${db()}-shm`, join(data(), 'secrets.json')]) {
        assert.ok(existsSync(f), `${f} exists while serving`);
        want(f, 0o600);
      }
      if (existsSync(join(data(), 'outbox'))) want(join(data(), 'outbox'), 0o700);
      for (const f of outboxFiles) want(f, 0o600);
      assert.deepEqual(problems, [], `${what}: ${problems.join('; ')}`);
    }
    const outboxFiles: string[] = [];

    it('a fresh start creates the data folder 0700 and the database, its -wal/-shm and secrets.json 0600', async () => {
      // umask 000 would otherwise make every new file 0666: the modes must not depend on it.
      const umask = process.umask(0);
      try {
        child = (await start(dir, port)).child;
      } finally {
        process.umask(umask);
      }
      assertPrivate('after a fresh start');
    });

    it('a start tightens a data folder, database, -wal/-shm, secrets.json and outbox left world-readable (0755/0644)', async () => {
      // A crash leaves the -wal and -shm files behind, as an older version's 0644 files would be.
      await stop(child!, 'SIGKILL');
      child = undefined;
      assert.ok(existsSync(`${db()}-wal`), 'the WAL outlived the crash');
      mkdirSync(join(data(), 'outbox'), { recursive: true });
      const message = join(data(), 'outbox', '20261206T101010123Z-email-0a1b2c3d.json');
      writeFileSync(message, '{"text":"482913 is your code"}\n');
      outboxFiles.push(message);
      chmodSync(data(), 0o755);
      chmodSync(join(data(), 'outbox'), 0o755);
      for (const f of [db(), `${db()}-wal`, `${db()}-shm`, join(data(), 'secrets.json'), message]) chmodSync(f, 0o644);

      const started = await start(dir, port);
      child = started.child;
      assertPrivate('after a start over loose modes');
      assert.match(started.output(), /was readable by others/, 'the start says what it changed');
    });
  });

  describe('the database files', function () {
    const db = createSqliteDatabase();
    const file = db.url.slice('sqlite:'.length);
    let srv: TestServer;
    before(async () => {
      srv = await startTestServer({
        database: db.url,
        overrides: { delivery: { outbox_dir: join(db.dir, 'outbox') }, sspr: { enabled_for: 'all', methods: ['email', 'sms', 'totp'], methods_required: 1 } },
      });
    });
    after(async () => { await srv?.close(); await db.drop(); });

    it('deleted rows are zeroed in the database file, not left in free space (PRAGMA secure_delete)', async () => {
      const [[{ secure_delete: on }]] = await srv.app.store.sequelize.query('PRAGMA secure_delete') as [Array<{ secure_delete: number }>, unknown];
      assert.equal(on, 1);
      const marker = `deleted-secret-${'x'.repeat(20)}-${Date.now()}`;
      const { Setting } = srv.app.store.models;
      await Setting.create({ key: 'secure-delete-probe', value: marker });
      await checkpoint(srv);
      assert.ok(databaseBytes(file).includes(marker), 'the probe is on disk while it exists');
      await Setting.destroy({ where: { key: 'secure-delete-probe' } });
      await checkpoint(srv);
      assert.equal(databaseBytes(file).includes(marker), false, 'the deleted row left no trace in the file');
    });

    it('a deleted row leaves the write-ahead log at the next housekeeping (the log is emptied, not kept for the next 10 000 pages)', async () => {
      const marker = `logged-secret-${'y'.repeat(20)}-${Date.now()}`;
      const { Setting } = srv.app.store.models;
      await Setting.create({ key: 'wal-probe', value: marker });
      await new Promise((resolve) => setTimeout(resolve, 20)); // committed on its own, as a request's write is
      await Setting.destroy({ where: { key: 'wal-probe' } });
      // No checkpoint in between: SQLite checkpoints every 10 000 pages, so the log still holds the
      // page as it was written with the row — what a copy of the files would take away.
      assert.ok(databaseBytes(file).includes(marker), 'the log holds the deleted row before housekeeping');
      const { extension } = srv.app;
      await extension.stop();
      extension.start(); // runs the housekeeping at once, then hourly
      // The housekeeping empties the log once no reader or writer is in the way (tried for 2 s).
      await waitFor(() => !databaseBytes(file).includes(marker), 10_000);
      assert.equal(databaseBytes(file).includes(marker), false, 'after housekeeping no file holds the deleted row');
    });

    it('no plaintext code in the deliveries table or the database files: sealed while queued, overwritten once sent or given up', async () => {
      const codes = captureCodes(srv.app);
      const user = await seedUser(srv.app, { login: 'ria' });
      await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: 'ria@recovery.example.net' });
      // Hold the worker, so the queued state can be looked at before anything is sent.
      await srv.app.sspr.delivery.stop();

      const page = await requestEmailCode(srv.issuer, 'ria', 'ria@recovery.example.net');
      assert.match(page.url, /\/reset\/code$/);
      const code = [...codes.values()].at(-1)!;
      assert.match(code, /^\d{6,8}$/);
      // A message that will fail for good: SMS to a country outside allowed_countries.
      const doomed = '13572468';
      await srv.app.sspr.delivery.enqueue({ channel: 'sms', to: '+1 202 555 0123', text: `${doomed} is your code` });

      const { Delivery } = srv.app.store.models;
      const waiting = await Delivery.findAll({ raw: true });
      assert.equal(waiting.length, 2);
      for (const secret of [code, doomed]) {
        assert.equal(JSON.stringify(waiting).includes(secret), false, `queued rows do not hold ${secret} in the clear`);
        assert.equal(databaseBytes(file).includes(secret), false, `the database files (WAL included) do not hold ${secret}`);
      }
      assert.ok(waiting.every((d) => d.body.startsWith('sealed:')));

      await srv.app.sspr.delivery.flush();
      const done = await Delivery.findAll({ raw: true, order: [['channel', 'ASC']] });
      assert.deepEqual(done.map((d) => [d.channel, d.status, d.body]), [['email', 'sent', SENT_MARKER], ['sms', 'failed', FAILED_MARKER]]);
      for (const secret of [code, doomed]) {
        assert.equal(JSON.stringify(done).includes(secret), false, `no row holds ${secret}`);
        assert.equal(databaseBytes(file).includes(secret), false, `no database file holds ${secret} before a checkpoint`);
        await checkpoint(srv);
        assert.equal(databaseBytes(file).includes(secret), false, `no database file holds ${secret} after a checkpoint`);
      }
      // The code did go out, through the outbox (a file of its own, 0600, outside the database).
      const outbox = join(db.dir, 'outbox');
      assert.ok(readdirSync(outbox).some((f) => readFileSync(join(outbox, f), 'utf8').includes(code)));
    });
  });
});
