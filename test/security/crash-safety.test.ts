import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Op } from 'sequelize';
import { stringify } from 'yaml';
import { systemClock } from '../../src/clock.ts';
import type { ConfigInput } from '../../src/config/schema.ts';
import { createMethodRepository } from '../../src/store/method-repository.ts';
import { createPasswordHasher } from '../../src/sspr/password-hash.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { Browser, attr, findForm, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { TEST_HASHING, freePort } from '../support/server.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import { compileCacheEnv } from '../support/compile-cache.ts';

/**
 * Issue 8, "Crash safety": the real server (`node src/main.ts`, a YAML config, a SQLite file, SMTP to
 * a local stand-in) is killed with SIGKILL at every step of a reset and of a registration, and
 * restarted on the same database. After every kill, read straight from the database file:
 *
 * - reset: new password ⇔ the account's sessions, grants and tokens gone ⇔ one `sspr.reset.completed`
 *   event ⇔ the flow `done` — all or nothing, also with many password POSTs in flight at the kill;
 * - registration: a method is either verified (row + `method_verified` success event + code used) or
 *   absent (no row, no event, code unused);
 * - a used code stays refused after the restart, and the user can go on (or start again) and finish.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SECRET = 'test-app-secret-0123456789';
const REDIRECT = 'http://127.0.0.1:1/cb';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;

interface User { id: string; login: string; password: string; recovery: string; hash: string }

/** The real server as a child process: `start` waits for /healthz, `kill` is SIGKILL. */
class ServerProcess {
  child: ChildProcess | null = null;
  log: string[] = [];
  starts = 0;
  readonly configFile: string;
  readonly issuer: string;
  constructor(configFile: string, issuer: string) {
    this.configFile = configFile;
    this.issuer = issuer;
  }

  async start(): Promise<void> {
    const env: NodeJS.ProcessEnv = { ...process.env, ...compileCacheEnv(), OIDC_SSPR_CONFIG: this.configFile, LOG_LEVEL: 'warn' };
    for (const k of ['PORT', 'DATABASE_URL', 'OIDC_SSPR_ISSUER', 'OIDC_SSPR_COOKIE_KEYS', 'OIDC_SSPR_ENCRYPTION_KEYS']) delete env[k];
    const child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.starts += 1;
    const n = this.starts;
    const keep = (chunk: Buffer) => { this.log.push(`[${n}] ${chunk.toString('utf8')}`); if (this.log.length > 200) this.log.shift(); };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    let exited = false;
    child.once('exit', () => { exited = true; });
    const until = Date.now() + 20_000;
    for (;;) {
      if (exited) throw new Error(`the server exited while starting:\n${this.output()}`);
      try {
        const res = await fetch(`${this.issuer}/healthz`);
        if (res.status === 200) return;
      } catch { /* not listening yet */ }
      if (Date.now() > until) throw new Error(`the server did not start in 20 s:\n${this.output()}`);
      await sleep(25);
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exit = once(child, 'exit');
    child.kill('SIGKILL');
    await exit;
    this.child = null;
  }

  output(): string {
    return this.log.join('').slice(-6000);
  }
}

/** The Cookie header the browser would send to `url`. */
function cookieHeader(b: Browser, url: URL): string {
  return b.cookies
    .filter((c) => c.origin === url.origin && (c.path === '/' || url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`)))
    .map((c) => `${c.name}=${c.value}`)
    .join('; ');
}

/**
 * Writes one form POST on a raw socket and resolves once every byte is handed to the kernel; the
 * answer (if any) is collected in `status`. Used to kill the server in the middle of a request.
 */
async function rawPost(b: Browser, url: string, form: Record<string, string>) {
  const u = new URL(url);
  const body = new URLSearchParams(form).toString();
  const head = [
    `POST ${u.pathname} HTTP/1.1`, `Host: ${u.host}`, 'Content-Type: application/x-www-form-urlencoded',
    `Content-Length: ${Buffer.byteLength(body)}`, `Cookie: ${cookieHeader(b, u)}`, 'User-Agent: crash-test', 'Connection: close',
  ].join('\r\n');
  const socket = connect(Number(u.port), u.hostname);
  socket.on('error', () => undefined);
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (c: Buffer) => { answer += c.toString('latin1'); });
  const answered = new Promise<void>((r) => socket.once('data', () => r()));
  await new Promise<void>((r) => socket.write(`${head}\r\n\r\n${body}`, () => r()));
  return {
    answered,
    status: () => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0),
    close: () => socket.destroy(),
  };
}

describe('crash safety: SIGKILL at every step of a reset and a registration (the real server)', function () {
  this.timeout(180_000);
  let dir: string;
  let smtp: Smtp;
  let server: ServerProcess;
  let db: Store;
  let rp: RelyingParty;
  const hasher = createPasswordHasher(TEST_HASHING);
  const outcomes: string[] = [];
  let n = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-crash-'));
    smtp = await startSmtpServer();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const database = `sqlite:${join(dir, 'crash.sqlite')}`;
    const config: ConfigInput = {
      issuer,
      port,
      database,
      demo: false,
      secrets: { cookie_keys: ['crash-test-cookie-key-0123456789abcdef'], encryption_keys: ['crash-test-encryption-key-0123456789'] },
      password_hashing: TEST_HASHING,
      password_policy: { min_length: 12, min_strength: 2 },
      clients: [{ client_id: 'test-app', client_secret: SECRET, redirect_uris: [REDIRECT], post_logout_redirect_uris: ['http://127.0.0.1:1/'] }],
      delivery: { outbox_dir: join(dir, 'outbox'), email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
      sspr: {
        enabled_for: 'all',
        methods_required: 1,
        // Every request comes from 127.0.0.1: limits that count it must not get in the way here. The
        // reset flows started per IP (20 an hour) are fixed in code: this file starts 17 of them.
        throttle: { email_sends: { max: 1000, window_minutes: 1, block_hours: 0 }, failed_verifications: { max: 1000, window_hours: 1, block_hours: 0 } },
      },
    };
    const file = join(dir, 'oidc-sspr.yaml');
    writeFileSync(file, stringify(config));
    // The test reads (and first seeds) the same SQLite file the server writes.
    db = await openStore({ url: database });
    server = new ServerProcess(file, issuer);
    await server.start();
    rp = await relyingParty(issuer);
  });

  after(async function () {
    if (process.env.CRASH_LOG) console.error(`server output:\n${server?.output()}`);
    await server?.kill();
    await db?.close();
    await smtp?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (outcomes.length) console.log(`      crash outcomes: ${outcomes.join('; ')}`);
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.error(`server output:\n${server.output()}`);
    // A failed test may leave the server killed: the next one starts from a running server.
    if (!server.child) await server.start();
  });

  /** An account straight in the database; with a verified recovery address unless `bare`. */
  async function seed(prefix: string, bare = false): Promise<User> {
    const login = `${prefix}${++n}`;
    const password = `first pass phrase ${login} 1`;
    const hash = await hasher.hash(password);
    const id = randomUUID();
    await db.models.Account.create({ id, login, email: `${login}@example.org`, name: login, passwordHash: hash, passwordChangedAt: new Date() });
    const recovery = `${login}.recovery@example.net`;
    if (!bare) await createMethodRepository({ store: db, clock: systemClock }).saveVerified({ accountId: id, type: 'email', target: recovery });
    return { id, login, password, recovery, hash };
  }

  async function restart(): Promise<void> {
    await server.kill();
    await server.start();
  }

  const url = (path: string) => `${server.issuer}${path}`;

  /** Signs in through the client: a session, a grant, an access and a refresh token for the account. */
  async function signedIn(user: User, password = user.password): Promise<string> {
    const b = new Browser();
    const { page, verifier, state } = await rp.start(b);
    const done = await consentIfAsked(b, await signIn(b, page, user.login, password));
    assert.ok(done.redirectedTo, `${user.login}: no callback (${done.status} ${done.url})\n${done.html.slice(0, 400)}`);
    const tokens = await rp.finish(done.redirectedTo, verifier, state);
    assert.ok(tokens.refresh_token);
    return tokens.refresh_token;
  }

  /** The newest code mailed to `to` after `since` mails (at most `ms` to wait). */
  async function mailedCode(to: string, since: number, ms = 4000): Promise<string | null> {
    let text: string | null = null;
    try {
      await waitFor(() => {
        const m = smtp.received.slice(since).filter((x) => x.to.includes(to) && (x.text.match(CODE_RUN) !== null)).at(-1);
        text = m?.text ?? null;
        return m !== undefined;
      }, ms);
    } catch {
      return null;
    }
    return (text as string | null)?.match(CODE_RUN)?.[0] ?? null;
  }

  const flowIdOf = (b: Browser) => b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];

  // ── reset ─────────────────────────────────────────────────────────────────────────────────────

  interface ResetState { changed: boolean; providerRows: number; completed: number; doneFlows: number; hash: string }

  async function resetState(user: User): Promise<ResetState> {
    const { Account, OidcPayload, AuditEvent, Flow } = db.models;
    const row = await Account.findByPk(user.id);
    return {
      hash: row!.passwordHash!,
      changed: row!.passwordHash !== user.hash,
      // Not AuthorizationCode: a consumed one expires within a minute and is purged at start-up.
      providerRows: await OidcPayload.count({ where: { accountId: user.id, model: ['Session', 'Grant', 'AccessToken', 'RefreshToken'] } }),
      completed: await AuditEvent.count({ where: { activity: 'sspr.reset.completed', targetAccountId: user.id } }),
      doneFlows: await Flow.count({ where: { kind: 'reset', accountId: user.id, state: 'done' } }),
    };
  }

  /**
   * All or nothing, against the state before this reset (`base`): either the new password, no
   * session/grant/token of the account, one more completed event and one more finished flow — or
   * nothing of it. Returns whether the reset took effect.
   */
  async function assertResetAtomic(user: User, base: ResetState, label: string, candidates: string[]): Promise<boolean> {
    const s = await resetState(user);
    const changed = s.hash !== base.hash;
    if (changed) {
      assert.equal(s.providerRows, 0, `${label}: password changed but ${s.providerRows} provider rows (sessions, grants, tokens) of the account remain`);
      assert.equal(s.completed, base.completed + 1, `${label}: password changed without exactly one sspr.reset.completed event`);
      assert.equal(s.doneFlows, base.doneFlows + 1, `${label}: password changed but the flow is not done`);
      const matches = [];
      for (const p of candidates) if (await hasher.verify(s.hash, p)) matches.push(p);
      assert.equal(matches.length, 1, `${label}: the new hash is one of the submitted passwords`);
    } else {
      assert.ok(s.providerRows >= base.providerRows && s.providerRows > 0, `${label}: password unchanged but the account's sessions/grants/tokens were revoked (${base.providerRows} → ${s.providerRows})`);
      assert.equal(s.completed, base.completed, `${label}: password unchanged but a sspr.reset.completed event was written`);
      assert.equal(s.doneFlows, base.doneFlows, `${label}: password unchanged but the flow is done`);
    }
    return changed;
  }

  /** From the identifier page to the code page (a code on its way); returns the code page. */
  async function toCodePage(b: Browser, user: User): Promise<Page> {
    const start = await b.get(url('/reset'));
    const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: user.login });
    const target = await b.submit(method, { method: 'email' });
    const code = await b.submit(target, { target: user.recovery });
    assert.match(code.url, /\/reset\/code$/, code.html.slice(0, 600));
    return code;
  }

  /** Through a code to the password page. */
  async function toPasswordPage(b: Browser, user: User): Promise<Page> {
    const since = smtp.received.length;
    const codePage = await toCodePage(b, user);
    const code = await mailedCode(user.recovery, since);
    assert.ok(code, `${user.login}: no code mailed`);
    const pw = await b.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: code });
    assert.match(pw.url, /\/reset\/password$/, pw.html.slice(0, 600));
    return pw;
  }

  function passwordForm(pw: Page, password: string): Record<string, string> {
    const names = [...pw.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
    assert.equal(names.length, 2);
    return { ...findForm(pw.html).hidden, [names[0]]: password, [names[1]]: password };
  }

  /** After a kill: the same browser finishes its flow if it is still open, else starts again. Returns the password now set. */
  async function finishOrStartAgain(b: Browser, user: User, password: string): Promise<void> {
    let page = await b.get(url('/reset/password'));
    if (!/\/reset\/password$/.test(page.url)) {
      b.cookies = [];
      page = await toPasswordPage(b, user);
    }
    const done = await b.submit(page, passwordForm(page, password));
    assert.match(done.url, /\/reset\/done$/, `${user.login}: ${done.status} ${done.url}\n${done.html.slice(0, 600)}`);
  }

  it('reset: a kill after the identifier, after the code is sent, after the code is verified and inside the password POST leaves nothing half-done', async () => {
    const user = await seed('ada');
    await signedIn(user);
    const base = await resetState(user);
    assert.ok(base.providerRows > 0, 'signed in: a session, a grant and tokens');
    const newPassword = 'violet tractor lantern oboe 93';

    // 1. After the identifier.
    const b = new Browser();
    const start = await b.get(url('/reset'));
    const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: user.login });
    assert.match(method.url, /\/reset\/method$/);
    await server.kill();
    assert.equal(await assertResetAtomic(user, base, 'kill after the identifier', [newPassword]), false);
    await server.start();

    // 2. Right after the code-sent answer (the mail may be on its way, or not yet).
    const again = await b.get(url('/reset/method'));
    assert.equal(again.status, 200, 'the flow survives the restart');
    const target = await b.submit(again, { method: 'email' });
    const since = smtp.received.length;
    const codePage = await b.submit(target, { target: user.recovery });
    assert.match(codePage.url, /\/reset\/code$/);
    await server.kill();
    assert.equal(await assertResetAtomic(user, base, 'kill after the code was sent', [newPassword]), false);
    await server.start();
    let code = await mailedCode(user.recovery, since);
    if (!code) {
      // Killed between the commit and the SMTP hand-over: the delivery is leased to the dead process
      // for a while, so the user asks again (a newer code voids the older one).
      outcomes.push('code mail held by the killed process: user asked again');
      const since2 = smtp.received.length;
      const t2 = await b.submit(await b.get(url('/reset/method')), { method: 'email' });
      await b.submit(t2, { target: user.recovery });
      code = await mailedCode(user.recovery, since2);
    }
    assert.ok(code);
    const { OneTimeCode, AuditEvent } = db.models;
    const flowId = flowIdOf(b);

    // 3. Right after the code is verified: the code is used, and stays refused after the restart.
    const codeAgain = await b.get(url('/reset/code'));
    const pw = await b.submit(codeAgain, { [inputByAutocomplete(codeAgain.html, 'one-time-code')]: code });
    assert.match(pw.url, /\/reset\/password$/);
    await server.kill();
    assert.equal(await assertResetAtomic(user, base, 'kill after the code was verified', [newPassword]), false);
    assert.ok(await OneTimeCode.count({ where: { flowId } }) >= 1);
    assert.equal(await OneTimeCode.count({ where: { flowId, usedAt: null } }), 0, 'the code is marked used (an older one was voided when it was replaced)');
    assert.equal(await AuditEvent.count({ where: { activity: 'sspr.reset.method_verified', correlationId: flowId } }), 1);
    await server.start();
    const replay = await b.request(url('/reset/code'), { body: new URLSearchParams({ csrf: findForm(codeAgain.html).hidden.csrf, code }).toString() });
    assert.equal(replay.status, 400, 'a used code is refused after the restart');
    const b2 = new Browser();
    const otherFlow = await toCodePage(b2, user);
    const replayElsewhere = await b2.submit(otherFlow, { [inputByAutocomplete(otherFlow.html, 'one-time-code')]: code });
    assert.equal(replayElsewhere.status, 400, 'nor does it open another flow');
    assert.deepEqual(messageIds(replayElsewhere.html), ['errors:sspr.code_invalid']);

    // 4. Killed right after the password POST's bytes are written.
    const pwPage = await b.get(url('/reset/password'));
    assert.equal(pwPage.status, 200);
    const post = await rawPost(b, url('/reset/password'), passwordForm(pwPage, newPassword));
    await server.kill();
    post.close();
    const took = await assertResetAtomic(user, base, 'kill inside the password POST', [newPassword]);
    outcomes.push(`reset password POST killed at once: ${took ? 'committed' : 'not applied'}`);
    await server.start();

    // 5. The user goes on, or starts again, and finishes; the new password signs in.
    if (!took) await finishOrStartAgain(b, user, newPassword);
    assert.equal(await assertResetAtomic(user, base, 'finished after the restart', [newPassword]), true);
    const finished = await b.request(url('/reset/password'), { body: new URLSearchParams(passwordForm(pwPage, 'another pass phrase 77 xyz')).toString() });
    assert.ok(finished.status === 400 || /expired=1/.test(finished.headers.get('location') ?? ''), `a finished flow takes no second password (${finished.status})`);
    assert.equal(await assertResetAtomic(user, base, 'after a replayed password POST', [newPassword]), true);
    user.hash = (await resetState(user)).hash;
    await signedIn(user, newPassword);

    // 6. And a whole new reset later on goes through.
    const base2 = await resetState(user);
    const b3 = new Browser();
    await finishOrStartAgain(b3, user, 'quiet harbour maple 58 zig');
    assert.equal(await assertResetAtomic(user, base2, 'a second reset', ['quiet harbour maple 58 zig']), true);
  });

  /** How long a request takes on this machine, so kills can be spread over its whole duration. */
  async function timed(b: Browser, path: string, form: Record<string, string>): Promise<number> {
    const t0 = performance.now();
    const post = await rawPost(b, url(path), form);
    await post.answered;
    post.close();
    return performance.now() - t0;
  }

  it('reset: kills spread over the password POST (one user each) never leave a half-changed account', async () => {
    // Before, across and after the transaction (a request right after a restart varies by some 20 %).
    const fractions = [0.5, 0.8, 0.9, 1, 1.1, 1.4];
    const users: Array<{ user: User; b: Browser; pw: Page; base: ResetState }> = [];
    for (const _ of fractions) {
      const user = await seed('bo');
      await signedIn(user);
      const b = new Browser();
      const pw = await toPasswordPage(b, user);
      users.push({ user, b, pw, base: await resetState(user) });
    }
    // Calibrate on a freshly started server, as every kill below meets one: one password POST, not killed.
    const probe = await seed('bo');
    await signedIn(probe);
    const probeBrowser = new Browser();
    const probeForm = passwordForm(await toPasswordPage(probeBrowser, probe), `river candle ${probe.id.slice(0, 8)} 64 ok`);
    await restart();
    const took = await timed(probeBrowser, '/reset/password', probeForm);
    await restart();
    const delays = fractions.map((f) => Math.round(f * took));
    const seen: string[] = [];
    for (const [i, d] of delays.entries()) {
      const { user, b, pw, base } = users[i];
      const post = await rawPost(b, url('/reset/password'), passwordForm(pw, `river candle ${user.id.slice(0, 8)} 64 ok`));
      await sleep(d);
      await server.kill();
      post.close();
      seen.push(`${d}ms:${(await assertResetAtomic(user, base, `password POST killed after ${d} ms`, [`river candle ${user.id.slice(0, 8)} 64 ok`])) ? 'committed' : 'not applied'}`);
      await server.start();
    }
    outcomes.push(`password POST (${Math.round(took)} ms) killed after ${seen.join(' ')}`);
    // Every user finishes afterwards (the flow still open, or a new one).
    for (const { user, b, base } of users) {
      const s = await resetState(user);
      if (s.hash === base.hash) await finishOrStartAgain(b, user, `river candle ${user.id.slice(0, 8)} 64 ok`);
      assert.equal(await assertResetAtomic(user, base, `${user.login} finished`, [`river candle ${user.id.slice(0, 8)} 64 ok`]), true);
    }
  });

  it('reset: concurrent password POSTs (two per flow) finish quickly, one reset per flow, never a 5xx', async () => {
    // Regression: SQLite writers waiting in BEGIN IMMEDIATE held every libuv thread, so the one holding
    // the lock could not go on: this took over two minutes and ended in 500s.
    const users: Array<{ user: User; b: Browser; pw: Page; base: ResetState }> = [];
    for (let i = 0; i < 3; i++) {
      const user = await seed('fay');
      await signedIn(user);
      const b = new Browser();
      users.push({ user, b, pw: await toPasswordPage(b, user), base: await resetState(user) });
    }
    const candidates = (u: User) => [`first choice ${u.id.slice(0, 8)} 71 qq`, `second choice ${u.id.slice(0, 8)} 72 qq`];
    const t0 = performance.now();
    const posts = [];
    for (const { user, b, pw } of users) for (const p of candidates(user)) posts.push(await rawPost(b, url('/reset/password'), passwordForm(pw, p)));
    const all = Promise.all(posts.map((p) => p.answered));
    const inTime = await Promise.race([all.then(() => true), sleep(20_000).then(() => false)]);
    const ms = Math.round(performance.now() - t0);
    posts.forEach((p) => p.close());
    assert.ok(inTime, `${posts.length} concurrent password POSTs still unanswered after ${ms} ms`);
    const statuses = posts.map((p) => p.status()).sort();
    outcomes.push(`${posts.length} concurrent password POSTs answered in ${ms} ms`);
    assert.deepEqual(statuses, [...Array(3).fill(303), ...Array(3).fill(400)], 'one reset per flow, the double submit refused, no 5xx');
    for (const { user, base } of users) assert.equal(await assertResetAtomic(user, base, `${user.login}, concurrent POSTs`, candidates(user)), true);
  });

  it('reset: a kill while many password POSTs are in flight (two per flow) leaves each account all-or-nothing, at most one reset per flow', async () => {
    const users: Array<{ user: User; b: Browser; pw: Page; base: ResetState }> = [];
    for (let i = 0; i < 4; i++) {
      const user = await seed('cy');
      await signedIn(user);
      const b = new Browser();
      const pw = await toPasswordPage(b, user);
      users.push({ user, b, pw, base: await resetState(user) });
    }
    const candidates = (u: User) => [`first choice ${u.id.slice(0, 8)} 71 qq`, `second choice ${u.id.slice(0, 8)} 72 qq`];
    const posts = [];
    for (const { user, b, pw } of users) {
      for (const p of candidates(user)) posts.push(await rawPost(b, url('/reset/password'), passwordForm(pw, p)));
    }
    // Kill as soon as the first answer comes back: some committed, one likely mid-transaction, others queued.
    await Promise.race([...posts.map((p) => p.answered), sleep(10_000)]);
    await server.kill();
    const answered = posts.filter((p) => p.status() > 0).length;
    posts.forEach((p) => p.close());
    let committed = 0;
    for (const { user, base } of users) {
      if (await assertResetAtomic(user, base, `${user.login} with POSTs in flight`, candidates(user))) committed += 1;
    }
    outcomes.push(`${posts.length} password POSTs in flight: ${answered} answered, ${committed}/${users.length} accounts reset`);
    await server.start();
    for (const { user, b, base } of users) {
      if ((await resetState(user)).hash === base.hash) await finishOrStartAgain(b, user, candidates(user)[0]);
      assert.equal(await assertResetAtomic(user, base, `${user.login} finished after the restart`, candidates(user)), true);
    }
  });

  // ── registration ──────────────────────────────────────────────────────────────────────────────

  /** `usedCodes`: 1 when the newest code is used. */
  interface RegState { methods: number; verifiedEvents: number; usedCodes: number }

  async function regState(user: User): Promise<RegState> {
    const { RecoveryMethod, AuditEvent, OneTimeCode } = db.models;
    return {
      methods: await RecoveryMethod.count({ where: { accountId: user.id } }),
      verifiedEvents: await AuditEvent.count({ where: { activity: 'sspr.registration.method_verified', result: 'success', targetAccountId: user.id } }),
      // The newest code: an older one is voided (marked used) when a new one is sent.
      usedCodes: (await OneTimeCode.findOne({ where: { accountId: user.id, purpose: 'registration' }, order: [['createdAt', 'DESC']] }))?.usedAt ? 1 : 0,
    };
  }

  /** Verified (row, event, code used) or absent (none of them). Returns whether it is there. */
  async function assertRegistrationAtomic(user: User, label: string): Promise<boolean> {
    const s = await regState(user);
    if (s.methods > 0) {
      assert.deepEqual(s, { methods: 1, verifiedEvents: 1, usedCodes: 1 }, `${label}: a method without its event or used code`);
      return true;
    }
    assert.deepEqual(s, { methods: 0, verifiedEvents: 0, usedCodes: 0 }, `${label}: no method, yet an event or a used code`);
    return false;
  }

  /** Signs in a user without methods: the registration prompt; goes on to the code page of an email method. */
  async function toRegistrationCode(user: User) {
    const b = new Browser();
    const { page, verifier, state } = await rp.start(b);
    const choose = await signIn(b, page, user.login, user.password);
    assert.match(choose.url, /\/register$/, `${choose.status} ${choose.url}`);
    const target = await b.submit(choose, { method: 'email' }, { actionPart: '/method' });
    const since = smtp.received.length;
    const codePage = await b.submit(target, { [inputByAutocomplete(target.html, 'email')]: user.recovery }, { actionPart: '/target' });
    assert.match(codePage.html, /autocomplete="one-time-code"/);
    return { b, codePage, since, verifier, state, base: choose.url };
  }

  it('registration: a kill after the code is sent, inside the verify POST and after it leaves the method verified with its event, or absent', async () => {
    const user = await seed('dee', true);
    const r = await toRegistrationCode(user);

    // 1. Killed right after the code-sent answer.
    await server.kill();
    assert.equal(await assertRegistrationAtomic(user, 'kill after the code was sent'), false);
    await server.start();
    let code = await mailedCode(user.recovery, r.since);
    let codePage = await r.b.get(r.base);
    assert.match(codePage.html, /autocomplete="one-time-code"/, 'the flow (and the interaction) survive the restart');
    if (!code) {
      outcomes.push('registration code mail held by the killed process: user asked again');
      const since = smtp.received.length;
      await r.b.submit(codePage, { action: 'resend' }, { actionPart: '/verify' });
      code = await mailedCode(user.recovery, since);
      codePage = await r.b.get(r.base);
    }
    assert.ok(code);

    // 2. Killed right after the verify POST's bytes are written.
    const form = { ...findForm(codePage.html, '/verify').hidden, [inputByAutocomplete(codePage.html, 'one-time-code')]: code };
    const verifyUrl = url(new URL(findForm(codePage.html, '/verify').action, r.base).pathname);
    const post = await rawPost(r.b, verifyUrl, form);
    await server.kill();
    post.close();
    const took = await assertRegistrationAtomic(user, 'kill inside the verify POST');
    outcomes.push(`registration verify POST killed at once: ${took ? 'committed' : 'not applied'}`);
    await server.start();
    if (!took) {
      const added = await r.b.submit(await r.b.get(r.base), { [inputByAutocomplete(codePage.html, 'one-time-code')]: code }, { actionPart: '/verify' });
      assert.ok(messageIds(added.html).includes('registration:added'), `the same code still works: ${added.status}\n${added.html.slice(0, 600)}`);
    }

    // 3. Killed after the verify answer: still verified after the restart, and the code stays used.
    await server.kill();
    assert.equal(await assertRegistrationAtomic(user, 'kill after the verify answer'), true);
    await server.start();
    // The refusal comes back by redirect (post → redirect → get), with its status on the page.
    const replay = await r.b.follow(verifyUrl, { body: new URLSearchParams(form).toString() });
    assert.ok(replay.status === 400 || replay.status === 409, `a used code is refused after the restart (got ${replay.status})`);
    assert.equal(await assertRegistrationAtomic(user, 'after the replay'), true);

    // 4. The user finishes: Finish, consent, tokens for the same authorization request.
    const overview = await r.b.get(r.base);
    const done = await consentIfAsked(r.b, await r.b.submit(overview, {}, { actionPart: '/finish' }));
    assert.ok(done.redirectedTo?.startsWith(REDIRECT), `back at the client: ${done.status} ${done.url}\n${done.html.slice(0, 600)}`);
    const tokens = await rp.finish(done.redirectedTo!, r.verifier, r.state);
    assert.equal(tokens.claims()!.sub, user.id);
    assert.equal(await db.models.AuditEvent.count({ where: { activity: 'sspr.registration.completed', targetAccountId: user.id } }), 1);
  });

  it('registration: kills spread over the verify POST (one user each) never leave a method without its event', async () => {
    const fractions = [0.3, 0.6, 0.8, 0.95, 1.1];
    const runs = [];
    for (const _ of fractions) {
      const user = await seed('eve', true);
      const r = await toRegistrationCode(user);
      const code = await mailedCode(user.recovery, r.since);
      assert.ok(code);
      runs.push({ user, r, code });
    }
    // Calibrate on a freshly started server: one verify POST, not killed.
    const probe = await seed('eve', true);
    const p = await toRegistrationCode(probe);
    const probeCode = await mailedCode(probe.recovery, p.since);
    assert.ok(probeCode);
    await restart();
    const took = await timed(p.b, new URL(findForm(p.codePage.html, '/verify').action, p.base).pathname,
      { ...findForm(p.codePage.html, '/verify').hidden, code: probeCode });
    assert.equal(await assertRegistrationAtomic(probe, 'the calibration run'), true);
    await restart();
    const delays = fractions.map((f) => Math.round(f * took));
    const seen: string[] = [];
    for (const [i, d] of delays.entries()) {
      const { user, r, code } = runs[i];
      const form = { ...findForm(r.codePage.html, '/verify').hidden, [inputByAutocomplete(r.codePage.html, 'one-time-code')]: code };
      const post = await rawPost(r.b, url(new URL(findForm(r.codePage.html, '/verify').action, r.base).pathname), form);
      await sleep(d);
      await server.kill();
      post.close();
      seen.push(`${d}ms:${(await assertRegistrationAtomic(user, `verify POST killed after ${d} ms`)) ? 'committed' : 'not applied'}`);
      await server.start();
    }
    outcomes.push(`registration verify POST (${Math.round(took)} ms) killed after ${seen.join(' ')}`);
    for (const { user, r, code } of runs) {
      if (!(await assertRegistrationAtomic(user, `${user.login} before finishing`))) {
        const added = await r.b.submit(await r.b.get(r.base), { code }, { actionPart: '/verify' });
        assert.ok(messageIds(added.html).includes('registration:added'), added.html.slice(0, 600));
      }
      assert.equal(await assertRegistrationAtomic(user, `${user.login} finished`), true);
    }
  });
});
