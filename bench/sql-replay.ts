/**
 * `node bench/sql-replay.ts [options]`: SQLite's own cost of one sign-in, without the servers.
 *
 * 1. Capture: a test server on a fresh SQLite file (SSPR not applying, a first-party client, one
 *    account, as the harness setup of bench/run.ts) signs in `--warm` times, then records one
 *    sign-in's statements with their parameters and where its group commits fell; the database is
 *    then copied after a TRUNCATE checkpoint.
 * 2. Replay: on a fresh copy each round, `node:sqlite` alone runs that sign-in `--iterations` times
 *    with new ids (interaction, session, grant, code, token, audit event), with the server's PRAGMAs,
 *    `BEGIN IMMEDIATE` before a group's first write and `COMMIT` where the server committed.
 *    Reported per sign-in: the thread's CPU (user, kernel), wall time, the slowest sign-ins, and the
 *    frames written to the log (exact: 200 more sign-ins on a log that only grows), by commit.
 *
 *   --warm N           sign-ins before the capture (default 2000: the account's sessions pile up)
 *   --iterations N     sign-ins per round (default 4000)
 *   --rounds N         rounds (default 3)
 *   --pragma P         an extra PRAGMA after the server's, e.g. "wal_autocheckpoint=1000" (repeatable)
 *   --sql S            an extra statement before the replay, e.g. "DROP INDEX audit_events_time" (repeatable)
 *   --skip i,j         leave out the captured statements with these numbers (listed with --list)
 *   --one-commit       one COMMIT at the end of the sign-in instead of the server's
 *   --list             print the captured statements and exit
 *
 * Much steadier than timing whole servers (±5 % between rounds on a shared VM, against ±0.1 ms of
 * a 3–4 ms main thread), so SQLite-level changes can be told apart; under the real load each
 * statement costs about twice as much (the argon2 threads share the cores and evict its pages from
 * the caches), so read the figures as relative.
 */
import { copyFileSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { parseArgs } from 'node:util';
import { SQLITE_BUSY_TIMEOUT_MS, SQLITE_WAL_CHECKPOINT_PAGES } from '../src/store/db.ts';
import { openStore } from '../src/store/index.ts';
import { Database, numberedParameters } from '../src/store/sqlite-driver.ts';
import { GroupCommit } from '../src/store/sqlite-group-commit.ts';
import { startTestServer } from '../test/support/server.ts';
import { seedUser } from '../test/support/users.ts';
import { signIn, type Target } from './load.ts';

const { values: args } = parseArgs({
  options: {
    warm: { type: 'string', default: '2000' },
    iterations: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '3' },
    pragma: { type: 'string', multiple: true, default: [] },
    sql: { type: 'string', multiple: true, default: [] },
    skip: { type: 'string', default: '' },
    'one-commit': { type: 'boolean', default: false },
    list: { type: 'boolean', default: false },
  },
});

type Step = { kind: 'read' | 'write'; sql: string; params: unknown[] } | { kind: 'commit' };

/** One harness sign-in's SQL on a test server, and a copy of its database. */
async function capture(warm: number, dir: string): Promise<{ steps: Step[]; file: string }> {
  const url = `sqlite:${join(dir, 'captured.sqlite')}`;
  const steps: Step[] = [];
  let recording = false;
  const driver = Database.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  const restore: (() => void)[] = [];
  for (const [method, kind] of [['cachedAll', 'read'], ['cachedRun', 'write']] as const) {
    const original = driver[method]!;
    driver[method] = function (this: unknown, ...a: unknown[]) {
      // A read's SQL may write (the throttle's INSERT … RETURNING): the statement decides, not the method.
      if (recording) steps.push({ kind: /^\s*(INSERT|UPDATE|DELETE)\b/i.test(String(a[0])) ? 'write' : kind, sql: String(a[0]), params: [...(a[1] as unknown[])] });
      return original.apply(this, a);
    };
    restore.push(() => { driver[method] = original; });
  }
  const group = GroupCommit.prototype as unknown as { commit(this: { open: unknown }): void };
  const commit = group.commit;
  group.commit = function (this: { open: unknown }) {
    if (recording && this.open) steps.push({ kind: 'commit' });
    return commit.call(this);
  };
  restore.push(() => { group.commit = commit; });

  const store = await openStore({ url });
  const client = { client_id: 'bench-app', client_secret: 'bench-app-secret-0123456789', redirect_uris: ['http://127.0.0.1:1/cb'], first_party: true };
  const srv = await startTestServer({ database: url, store, overrides: { sspr: { enabled_for: 'none' }, clients: [client] } });
  try {
    const target: Target = { issuer: srv.issuer, clientId: client.client_id, clientSecret: client.client_secret, redirectUri: client.redirect_uris[0]! };
    const { password } = await seedUser(srv.app, { login: 'loadtest' });
    for (let i = 0; i < warm; i++) await signIn(target, 'loadtest', password);
    recording = true;
    await signIn(target, 'loadtest', password);
    recording = false;
    await new Promise((resolve) => setTimeout(resolve, 50)); // the last group commits
    await store.sequelize.query('PRAGMA wal_checkpoint(TRUNCATE)');
    const file = join(dir, 'base.sqlite');
    copyFileSync(url.slice('sqlite:'.length), file);
    return { steps, file };
  } finally {
    for (const r of restore) r();
    await srv.close();
    await store.close();
  }
}

/** The ids a sign-in makes (43-character nanoids, the audit event's id): new ones each replayed sign-in. */
function idsOf(steps: Step[]): string[] {
  const ids = new Set<string>();
  for (const s of steps) if (s.kind !== 'commit') for (const p of s.params) if (typeof p === 'string' && /^[A-Za-z0-9_-]{43}$/.test(p)) ids.add(p);
  const audit = steps.find((s) => s.kind === 'write' && /INSERT INTO audit_events/.test(s.sql));
  if (audit && audit.kind === 'write' && typeof audit.params[0] === 'string') ids.add(audit.params[0]);
  return [...ids];
}

const bindable = (v: unknown): SQLInputValue => (v instanceof Date ? v.getTime() : typeof v === 'boolean' ? (v ? 1 : 0) : (v ?? null) as SQLInputValue);

function replay(steps: Step[], base: string, dir: string, iterations: number, round: number): void {
  const file = join(dir, `replay-${round}.sqlite`);
  copyFileSync(base, file);
  const db = new DatabaseSync(file);
  // The server's connection settings (src/store/db.ts), then the options'.
  for (const p of ['journal_mode = WAL', `busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`, 'synchronous = NORMAL', 'foreign_keys = ON', 'secure_delete = ON', `wal_autocheckpoint = ${SQLITE_WAL_CHECKPOINT_PAGES}`, ...args.pragma]) db.exec(`PRAGMA ${p}`);
  for (const s of args.sql) db.exec(s);
  const skip = new Set(args.skip.split(',').filter(Boolean).map(Number));
  const prepared = steps.map((s, i) => (s.kind === 'commit' || skip.has(i) ? null : db.prepare(numberedParameters(s.sql))));
  const begin = db.prepare('BEGIN IMMEDIATE');
  const commit = db.prepare('COMMIT');
  const ids = idsOf(steps);
  const pattern = new RegExp(ids.map((id) => id.replace(/-/g, '\\-')).join('|'), 'g');
  // With `walBytes`, the -wal file's size after each commit (a fresh, growing log: frames written).
  let walBytes: number[] | null = null;
  // The audit event's id grows as the server's does (its time, then a sequence): each new one goes
  // after the last, at the end of its index, as in production — not at random inside it.
  let sequence = 0;
  const one = () => {
    sequence++;
    const fresh = new Map(ids.map((id) => [id, id.length === 43 ? randomBytes(32).toString('base64url').slice(0, 43) : `${id.slice(0, 10)}${String(sequence).padStart(20, '0')}`]));
    const renew = (v: unknown) => (typeof v === 'string' ? v.replace(pattern, (m) => fresh.get(m)!) : v);
    let open = false;
    steps.forEach((s, i) => {
      if (s.kind === 'commit') {
        if (open && !args['one-commit']) { commit.run(); open = false; walBytes?.push(statSync(`${file}-wal`).size); }
        return;
      }
      const statement = prepared[i];
      if (!statement) return;
      if (s.kind === 'write' && !open) { begin.run(); open = true; }
      const params = s.params.map((p) => bindable(renew(p)));
      statement.all(...params); // `all` for writes too: the throttle's INSERT … RETURNING answers rows
    });
    if (open) { commit.run(); walBytes?.push(statSync(`${file}-wal`).size); }
  };
  for (let i = 0; i < Math.min(300, iterations); i++) one();
  const times: number[] = [];
  const cpu0 = process.threadCpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t = process.hrtime.bigint();
    one();
    times.push(Number(process.hrtime.bigint() - t) / 1000);
  }
  const wall = Number(process.hrtime.bigint() - t0) / 1000 / iterations;
  const cpu = process.threadCpuUsage(cpu0);
  times.sort((a, b) => a - b);
  const ms = (us: number) => (us / 1000).toFixed(1);
  // Frames a sign-in writes to the log, by commit: exact, where CPU time moves by ±5 % between rounds.
  db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
  db.exec('PRAGMA wal_autocheckpoint = 0');
  const frameRuns = 200;
  const pageSize = Number((db.prepare('PRAGMA page_size').get() as { page_size: number }).page_size);
  const perCommit: number[] = [];
  for (let i = 0, last = 32; i < frameRuns; i++) {
    walBytes = [];
    one();
    walBytes.forEach((size, c) => { perCommit[c] = (perCommit[c] ?? 0) + (size - last) / (pageSize + 24); last = size; });
  }
  walBytes = null;
  const frames = perCommit.map((n) => n / frameRuns);
  console.log(`round ${round + 1}: CPU ${((cpu.user + cpu.system) / iterations).toFixed(0)} µs a sign-in (user ${(cpu.user / iterations).toFixed(0)}, kernel ${(cpu.system / iterations).toFixed(0)}), wall ${wall.toFixed(0)} µs; slowest sign-ins ${ms(times[Math.floor(iterations * 0.999)]!)} ms (99.9 %), ${ms(times.at(-1)!)} ms (worst); log frames ${frames.reduce((a, b) => a + b, 0).toFixed(1)} a sign-in (by commit: ${frames.map((f) => f.toFixed(1)).join(' + ')})`);
  db.close();
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) rmSync(f);
}

const dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-replay-'));
try {
  const { steps, file } = await capture(Number(args.warm), dir);
  const statements = steps.filter((s) => s.kind !== 'commit').length;
  console.log(`one sign-in after ${args.warm}: ${statements} statements in ${steps.length - statements} commits`);
  if (args.list) {
    steps.forEach((s, i) => console.log(`${String(i).padStart(3)}  ${s.kind === 'commit' ? 'COMMIT' : s.sql.replace(/\s+/g, ' ').slice(0, 110)}`));
  } else {
    console.log(`replay: ${args.iterations} sign-ins a round${args.pragma.length ? `, PRAGMA ${args.pragma.join('; ')}` : ''}${args.sql.length ? `, ${args.sql.join('; ')}` : ''}${args.skip ? `, without ${args.skip}` : ''}${args['one-commit'] ? ', one commit' : ''}`);
    for (let r = 0; r < Number(args.rounds); r++) replay(steps, file, dir, Number(args.iterations), r);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
