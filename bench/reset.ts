/**
 * The reset benchmark (issue 7, "Reset"): complete forgot-password flows over HTTP against oidc-sspr
 * in its own child process, C closed loops for T seconds; flows per second, p50/p99 per flow, server
 * CPU per flow, and that CPU without the argon2id work (measured in the child, subtracted).
 *
 * One flow = the stand-alone `/reset` pages as a browser walks them (11 requests, redirects
 * followed): GET /reset → POST identifier → GET method → POST method=email → GET target → POST the
 * registered address → GET code page → (code from the outbox) POST code → GET password → POST the
 * new password twice → GET /reset/done.
 *
 * - Accounts user0 … user{N-1} (one shared argon2id hash, bench/seed.ts) each get one verified email
 *   method, `user<i>.recovery@example.net`, as a `recovery_methods` row. Loop l only ever uses the
 *   accounts i ≡ l (mod C), so no two loops reset the same account at once.
 * - Codes: the child's email transport is the outbox (`delivery.outbox_dir`, one JSON file per
 *   message, the code the only run of 6–8 digits). The load generator does not poll: an `fs.watch`
 *   (inotify) on the folder reads each new file once and hands its code to the flow waiting for that
 *   address; a directory scan every 200 ms runs only while a flow has waited longer than that.
 * - Throttles: the child runs with `sspr.throttle` limits raised (BENCH_THROTTLE) and `proxy: true`;
 *   every flow sends its own client IP in X-Forwarded-For, as distinct real clients would, so the
 *   per-IP counters are spread the way production spreads them. A completed reset forgets the
 *   identifier's counters, so identifiers never run into a limit.
 * - Hashing excluded: a reset runs one argon2id verify (the "same as the current password" check)
 *   and one argon2id hash (the new password) — plus zxcvbn in the policy check. After the load, the
 *   child times hash + verify with its own hasher (process CPU, every thread), `rounds` times one
 *   after another and `rounds` × C pairs C at once; each is subtracted from the server CPU per reset
 *   (two "excl. hashing" figures: their spread is the method's uncertainty).
 */
import { mkdirSync, readdirSync, readFileSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { firstForm, Jar, request, runLoad, summarise, type LoadResult, type Response } from './load.ts';
import { machineBusyMs } from './machine.ts';
import type { HashCost, ServerOptions, ServerStats } from './protocol.ts';
import { benchLogin, benchRecoveryEmail, seedAccounts, seedEmailMethods, type BenchDatabase } from './seed.ts';
import type { ServerProcess } from './server-process.ts';

/** The child's `sspr.throttle` for the benchmark: limits far above what one run reaches, no blocks. */
export const BENCH_THROTTLE = {
  failed_verifications: { max: 1000, window_hours: 1, block_hours: 0 },
  email_sends: { max: 1000, window_minutes: 1, block_hours: 0 },
  sms_sends: { max: 1000, window_minutes: 1, block_hours: 0 },
  flows_started: { max: 10000, window_minutes: 60, block_hours: 0 },
} as const;

export interface ResetBenchmarkOptions {
  /** Starts a bench server child (run.ts keeps track of it and stops it at the end). */
  start(script: string, options: ServerOptions): Promise<ServerProcess>;
  /** A fresh database; migrated and seeded here. */
  database: BenchDatabase;
  /** Where the child's outbox goes (a fresh folder). */
  outboxDir: string;
  accounts: number;
  passwordHash: string;
  concurrency: number;
  seconds: number;
  warmup: number;
  /** Rounds of hash + verify timed in the child. */
  hashRounds: number;
  server: Omit<ServerOptions, 'database' | 'reset' | 'accounts' | 'passwordHash'>;
}

export interface ResetBenchmarkResult {
  database: string;
  accounts: number;
  load: LoadResult;
  /** Server CPU (user + system, every thread) per completed flow, ms. */
  serverCpuMsPerFlow: number;
  /** One argon2id hash + one verify, measured in the child one at a time while idle (CPU ms). */
  hashingMsPerFlow: number;
  /** The same with C pairs at once (CPU ms per pair), as the hashes run under the load. */
  hashingMsPerFlowParallel: number;
  hashCost: HashCost;
  otherCores: number;
  /** Codes the watcher missed and the fallback scan found. */
  codesFromScan: number;
  requestsPerFlow: number;
}

// ---------------------------------------------------------------------------------------------
// Codes from the outbox

const CODE_RUN = /(?<!\d)\d{6,8}(?!\d)/g;

class OutboxReader {
  private seen = new Set<string>();
  private early = new Map<string, string>();
  private waiters = new Map<string, { since: number; resolve: (code: string) => void; reject: (err: Error) => void; timer: NodeJS.Timeout }>();
  private watcher: FSWatcher;
  private scanner: NodeJS.Timeout;
  fromScan = 0;
  private dir: string;

  constructor(dir: string) {
    this.dir = dir;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.watcher = watch(dir, (_event, name) => { if (name) this.read(name); });
    this.scanner = setInterval(() => this.scan(), 200);
    this.scanner.unref();
  }

  /** Reads one message file once; an empty or half-written file is left for its next event. */
  private read(name: string, viaScan = false): void {
    if (!name.endsWith('.json') || this.seen.has(name)) return;
    let msg: { to?: string; text?: string };
    try {
      msg = JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as typeof msg;
    } catch {
      return;
    }
    this.seen.add(name);
    const codes = msg.text?.match(CODE_RUN);
    if (!msg.to || !codes) return; // a notice ("your password was changed"), not a code
    if (codes.length !== 1) throw new Error(`outbox ${name}: ${codes.length} runs of 6–8 digits`);
    if (viaScan) this.fromScan++;
    const waiter = this.waiters.get(msg.to);
    if (waiter) {
      this.waiters.delete(msg.to);
      clearTimeout(waiter.timer);
      waiter.resolve(codes[0]);
    } else {
      this.early.set(msg.to, codes[0]);
    }
  }

  private scan(): void {
    const now = performance.now();
    if (![...this.waiters.values()].some((w) => now - w.since > 200)) return;
    for (const name of readdirSync(this.dir)) this.read(name, true);
  }

  /** Drops a code that arrived for `to` and was never used (call before asking for a new one). */
  forget(to: string): void {
    this.early.delete(to);
  }

  code(to: string, timeoutMs = 10_000): Promise<string> {
    const got = this.early.get(to);
    if (got) {
      this.early.delete(to);
      return Promise.resolve(got);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { this.waiters.delete(to); reject(new Error(`no code for ${to} in the outbox after ${timeoutMs} ms`)); }, timeoutMs);
      this.waiters.set(to, { since: performance.now(), resolve, reject, timer });
    });
  }

  close(): void {
    this.watcher.close();
    clearInterval(this.scanner);
    for (const w of this.waiters.values()) { clearTimeout(w.timer); w.reject(new Error('outbox closed')); }
  }
}

// ---------------------------------------------------------------------------------------------
// One flow

interface Page { path: string; status: number; body: string }

/** A browser on one origin with one client IP (X-Forwarded-For): cookies, redirects followed. */
class ResetBrowser {
  private jar = new Jar();
  requests = 0;
  private origin: string;
  private ip: string;
  constructor(origin: string, ip: string) {
    this.origin = origin;
    this.ip = ip;
  }

  cookies(): string {
    return this.jar.header() ?? '';
  }

  async go(path: string, fields?: Record<string, string>): Promise<Page> {
    let url = new URL(path, this.origin);
    let body = fields ? new URLSearchParams(fields).toString() : undefined;
    for (let hop = 0; hop < 5; hop++) {
      const cookie = this.jar.header();
      const res: Response = await request(url, {
        body,
        headers: {
          'accept-language': 'en',
          'x-forwarded-for': this.ip,
          ...(cookie ? { cookie } : {}),
          ...(body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
        },
      });
      this.requests++;
      this.jar.store(res.headers['set-cookie']);
      if (res.status >= 300 && res.status < 400) {
        url = new URL(res.headers.location ?? '', url);
        if (url.origin !== this.origin) throw new Error(`redirected off the server: ${url.href}`);
        body = undefined;
        continue;
      }
      return { path: url.pathname + url.search, status: res.status, body: res.body };
    }
    throw new Error(`too many redirects from ${path}`);
  }

  /** Posts the page's form with `values` added to its hidden fields; expects to land on `expect`. */
  async submit(page: Page, values: Record<string, string>, expect: string): Promise<Page> {
    const form = firstForm(page.body);
    return at(await this.go(form.action || page.path, { ...form.fields, ...values }), expect);
  }
}

function at(page: Page, path: string): Page {
  if (page.status !== 200 || page.path !== path) {
    const error = /data-error-code="([^"]+)"|data-message-id="([^"]+)"/.exec(page.body);
    throw new Error(`expected ${path}, got ${page.status} ${page.path}${error ? ` (${error[1] ?? error[2]})` : ''}`);
  }
  return page;
}

const WORDS = ['violet', 'tractor', 'lantern', 'oboe', 'marble', 'cactus', 'harbor', 'pepper', 'glacier', 'walnut', 'saffron', 'meadow', 'copper', 'falcon', 'thimble', 'quartz'];
const word = () => WORDS[Math.floor(Math.random() * WORDS.length)];

async function resetFlow(origin: string, outbox: OutboxReader, account: number, ip: string, newPassword: string): Promise<number> {
  const b = new ResetBrowser(origin, ip);
  const to = benchRecoveryEmail(account);
  const start = at(await b.go('/reset'), '/reset');
  const method = await b.submit(start, { login: benchLogin(account) }, '/reset/method');
  const target = await b.submit(method, { method: 'email' }, '/reset/target');
  outbox.forget(to);
  const codePage = await b.submit(target, { target: to }, '/reset/code');
  const code = await outbox.code(to);
  const password = await b.submit(codePage, { code }, '/reset/password');
  const done = await b.submit(password, { new_password: newPassword, confirm_password: newPassword }, '/reset/done');
  // The done page ends the flow: it clears the flow cookie.
  if (/<form\b/.test(done.body) || b.cookies().includes('oidc_sspr_reset=')) throw new Error('the done page did not end the flow');
  return b.requests;
}

// ---------------------------------------------------------------------------------------------

const cpuMs = (s: ServerStats) => (s.cpuUserUs + s.cpuSystemUs) / 1000;

export async function runResetBenchmark(o: ResetBenchmarkOptions): Promise<ResetBenchmarkResult> {
  const seeded = await seedAccounts(o.database.url, o.accounts, o.passwordHash);
  const methods = await seedEmailMethods(o.database.url, o.accounts);
  console.log(`  seeded ${o.accounts} accounts with a verified email method into ${o.database.label} in ${(seeded + methods).toFixed(1)} s`);
  const outbox = new OutboxReader(o.outboxDir);
  const proc = await o.start('sspr-server.ts', { ...o.server, database: o.database.url, reset: { outboxDir: o.outboxDir, throttle: BENCH_THROTTLE } });
  try {
    const C = o.concurrency;
    const perLoop = Math.floor(o.accounts / C);
    if (perLoop < 1) throw new Error(`reset benchmark: ${o.accounts} accounts for ${C} loops`);
    const turn = new Array<number>(C).fill(0);
    let flows = 0;
    let requestsPerFlow = 0;
    const op = async (loop: number) => {
      const k = ++flows;
      const account = loop + C * (turn[loop]++ % perLoop);
      const ip = `10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}`;
      requestsPerFlow = await resetFlow(proc.issuer, outbox, account, ip, `${word()} ${word()} ${word()} ${word()} ${k}`);
    };
    await runLoad(C, o.warmup, op);
    const before = await proc.stats();
    const m0 = machineBusyMs();
    const slice = await runLoad(C, o.seconds, op);
    const m1 = machineBusyMs();
    const after = await proc.stats();
    const hashCost = await proc.hashCost(o.hashRounds, C);
    const load = summarise([slice]);
    const serverMs = cpuMs(after) - cpuMs(before);
    const other = m0 !== null && m1 !== null ? Math.max(0, m1 - m0 - serverMs - slice.clientCpuUs / 1000) / 1000 / load.seconds : NaN;
    const result: ResetBenchmarkResult = {
      database: o.database.label,
      accounts: o.accounts,
      load,
      serverCpuMsPerFlow: serverMs / Math.max(1, load.ops),
      hashingMsPerFlow: hashCost.hashCpuMs + hashCost.verifyCpuMs,
      hashingMsPerFlowParallel: hashCost.pairCpuMsParallel,
      hashCost,
      otherCores: other,
      codesFromScan: outbox.fromScan,
      requestsPerFlow,
    };
    const err = load.errors ? `, ${load.errors} errors (first: ${load.firstError})` : '';
    console.log(`  reset    oidc-sspr ${o.database.label.padEnd(10)} ${String(o.accounts).padStart(6)} accounts: ${load.perSecond.toFixed(1)}/s, p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms, server CPU ${result.serverCpuMsPerFlow.toFixed(2)} ms/flow (hash + verify ${result.hashingMsPerFlow.toFixed(2)} one at a time, ${result.hashingMsPerFlowParallel.toFixed(2)} ${C} at once), others ${other.toFixed(2)} cores${err}`);
    return result;
  } finally {
    outbox.close();
    await proc.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// Output

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');

/**
 * (reset − its hashing) ÷ (sign-in − its verify), as text. The hashes are timed after the load, the
 * sign-in minutes earlier: on a machine whose speed drifts, a verify timed slow can reach the sign-in's
 * whole CPU, and the quotient of two differences near zero (or below it) says nothing. Then the row
 * says so, with the figures, instead of a number ("-95.08" in one run).
 */
export function hashExcludedRatio(resetExclHashing: number, signInCpuMs: number, verifyCpuMs: number): string {
  const signInExclVerify = signInCpuMs - verifyCpuMs;
  if (!Number.isFinite(resetExclHashing) || !Number.isFinite(signInExclVerify)) return '–';
  // Below a tenth of the sign-in's CPU, the remainder is inside the hash timing's own spread.
  if (resetExclHashing <= 0 || signInExclVerify < 0.1 * signInCpuMs) {
    return `– (the verify timed after the load, ${f2(verifyCpuMs)} ms, leaves ${f2(signInExclVerify)} of the sign-in's ${f2(signInCpuMs)} ms: the machine's speed moved between the two)`;
  }
  return f2(resetExclHashing / signInExclVerify);
}

/**
 * The reset section of the report: the table, the ratios to the same run's oidc-sspr sign-in
 * (server CPU per sign-in; it runs one argon2id verify), and how the figures were made.
 */
export function formatReset(r: ResetBenchmarkResult, signIn: { serverCpuMsPerOp: number; perSecond: number } | undefined, C: number): string {
  const out: string[] = [];
  const h = r.hashCost;
  const excl = r.serverCpuMsPerFlow - r.hashingMsPerFlow;
  const exclPar = r.serverCpuMsPerFlow - r.hashingMsPerFlowParallel;
  const s = signIn?.serverCpuMsPerOp ?? NaN;
  out.push(`| reset benchmark | server | database | accounts | resets/s | p50 ms | p99 ms | server CPU ms/reset | hash + verify ms (one at a time / ${C} at once) | server CPU excl. hashing ms/reset (one at a time / ${C} at once) | client CPU ms/reset | other cores | errors |`);
  out.push('|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  out.push(`| forgot password (stand-alone /reset, email code) | oidc-sspr | ${r.database} | ${r.accounts} | ${f1(r.load.perSecond)} | ${f1(r.load.p50)} | ${f1(r.load.p99)} | ${f2(r.serverCpuMsPerFlow)} | ${f2(r.hashingMsPerFlow)} / ${f2(r.hashingMsPerFlowParallel)} | ${f2(excl)} / ${f2(exclPar)} | ${f2(r.load.clientCpuMsPerOp)} | ${f2(r.otherCores)} | ${r.load.errors} |`);
  out.push('');
  out.push('| reset ratio (no bare counterpart: against oidc-sspr\'s own sign-in, same run) | measured |');
  out.push('|---|---:|');
  out.push(`| server CPU per reset ÷ per sign-in (oidc-sspr, SQLite, 1 000) | ${f2(r.serverCpuMsPerFlow / s)} |`);
  out.push(`| the same, hashing excluded: (reset − hash − verify) ÷ (sign-in − verify), hashes timed one at a time | ${hashExcludedRatio(excl, s, h.verifyCpuMs)} |`);
  out.push(`| the same, hashes timed ${C} at once | ${hashExcludedRatio(exclPar, s, h.verifyCpuMsParallel)} |`);
  out.push(`| resets/s ÷ sign-ins/s | ${f2(r.load.perSecond / (signIn?.perSecond ?? NaN))} |`);
  out.push('');
  out.push(`- Reset flow: ${C} concurrent closed loops, stand-alone \`/reset\`, ${r.requestsPerFlow} HTTP requests per flow (identifier → method "email" → the registered address → the code → the new password twice → done page; redirects followed); each account has one verified email method (seeded as a \`recovery_methods\` row). Codes come from the child's outbox folder (\`delivery.outbox_dir\`), read once per file on an inotify event (\`fs.watch\`), no polling${r.codesFromScan ? `; ${r.codesFromScan} codes the watcher missed were found by the fallback scan` : ''}; waiting for the code is part of the flow's latency.`);
  out.push(`- **Throttles raised for the bench:** the child runs with \`sspr.throttle\` = failed_verifications 1000 per 1 h, email_sends / sms_sends 1000 per 1 min, flows_started 10000 per hour, no blocks; and with \`proxy: true\`, each flow sending its own client IP in X-Forwarded-For, as distinct clients would. The per-IP throttle rows this creates (a few per flow) are part of the measured work.`);
  out.push(`- **Hashing excluded, how:** a reset runs one argon2id verify (is the new password the current one?) and one argon2id hash (the new password); zxcvbn's policy check stays in. After the load the child, idle otherwise, timed its own hasher (same parameters) by its process CPU (every thread: argon2 runs on the libuv pool): one at a time, ${h.rounds} rounds, hash ${f2(h.hashCpuMs)} ms CPU (${f1(h.hashWallMs)} ms wall) and verify ${f2(h.verifyCpuMs)} ms CPU (${f1(h.verifyWallMs)} ms wall); and ${C} pairs at once, as under the load, ${f2(h.pairCpuMsParallel)} ms per hash + verify (verify alone ${f2(h.verifyCpuMsParallel)}). Both are subtracted, giving the two "excl. hashing" figures: their spread is the method's uncertainty (on a shared VM a hash's CPU varies from round to round and with contention). For the sign-in in the ratios, one verify is subtracted the same two ways.`);
  return out.join('\n');
}
