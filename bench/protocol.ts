/**
 * The IPC protocol between the benchmark (parent, load generator) and a bench server (child).
 * Each server runs in its own process so its CPU time and RSS are its own.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
export { freePort } from '../test/support/port.ts';

/** What the parent hands a child (JSON in the BENCH_SERVER env variable). */
export interface ServerOptions {
  /** oidc-sspr only: the database URL (already migrated and seeded by the parent). */
  database?: string;
  /** bare only: the number of in-memory accounts (user0 … user{n-1}) and their shared hash. */
  accounts?: number;
  passwordHash?: string;
  client: { clientId: string; clientSecret: string; redirectUri: string };
  cookieKeys: string[];
  hashing: { memory_kib: number; time_cost: number; parallelism: number };
  logLevel: string;
  /**
   * oidc-sspr only, the reset benchmark: SSPR for everybody with these throttle limits, email codes
   * into this outbox folder, and `proxy: true` (the client IP from X-Forwarded-For).
   */
  reset?: { outboxDir: string; throttle: Record<string, unknown> };
  /**
   * oidc-sspr only: configure delivery as a production install does (SMTP and HTTP-SMS, here at the
   * bench's dummy listeners) instead of the outbox folder. Nothing is sent during a sign-in; the
   * point is that the configuration is the one users copy.
   */
  delivery?: { smtpPort: number; smsUrl: string };
  /** oidc-sspr only: another build's `dist/src` to run instead of this checkout's (bench/ab.ts). */
  dist?: string;
  /** oidc-sspr on SQLite only (`--sql`): count statements, rows written and their main-thread CPU. */
  sqlStats?: boolean;
  /** `--steps`: main-thread CPU per HTTP step of a sign-in (bench/step-stats.ts). */
  steps?: boolean;
}

/** What `--sql` counts inside an oidc-sspr child on SQLite (cumulative since start). */
export interface SqlStats { statements: number; rowsWritten: number; cpuUs: number; writes: number }

export interface ServerStats {
  /** process.cpuUsage(): user + system, microseconds, all threads (argon2 runs on the libuv pool). */
  cpuUserUs: number;
  cpuSystemUs: number;
  /**
   * process.threadCpuUsage(): the main (JavaScript) thread alone, user + system, microseconds. The
   * argon2 verify runs on the libuv pool, so this is the server's own work around the hash — the
   * part the two servers differ in — and far less noisy than the process total on a shared machine.
   */
  mainThreadUs: number;
  rss: number;
  heapUsed: number;
  /** V8's heap as reserved from the system (used + free pages it keeps). */
  heapTotal: number;
  /** Memory outside the V8 heap that JS objects hold (Buffers, SQLite handles report none). */
  external: number;
  sql?: SqlStats;
  steps?: import('./step-stats.ts').StepStats;
  /**
   * CPU by kind of thread (Linux only, from /proc/self/task/<tid>/schedstat, microseconds since each
   * thread started): the libuv pool (the argon2 verify), V8's helper threads (concurrent marking,
   * compilers) and the rest (worker threads, if any). A thread that ended between
   * two readings drops out of the later one, so only pool and V8 threads, which live as long as the
   * process, are compared.
   */
  threads?: ThreadCpu;
}

export interface ThreadCpu { poolUs: number; v8Us: number; otherUs: number }

/** Reads every thread's CPU from /proc; undefined off Linux. */
function threadCpu(): ThreadCpu | undefined {
  const dir = '/proc/self/task';
  if (!existsSync(dir)) return undefined;
  const sums: ThreadCpu = { poolUs: 0, v8Us: 0, otherUs: 0 };
  for (const tid of readdirSync(dir)) {
    if (Number(tid) === process.pid) continue;
    try {
      const name = readFileSync(`${dir}/${tid}/comm`, 'utf8').trim();
      const us = Number(readFileSync(`${dir}/${tid}/schedstat`, 'utf8').split(' ')[0]) / 1000;
      if (name === 'libuv-worker') sums.poolUs += us;
      else if (name === 'V8Worker' || name === 'DelayedTaskSche') sums.v8Us += us;
      else sums.otherUs += us;
    } catch {
      // the thread ended while being read
    }
  }
  return sums;
}

let sqlStatsSource: (() => SqlStats) | undefined;
let stepStatsSource: (() => import('./step-stats.ts').StepStats) | undefined;
/** The child's per-step counters, reported with its stats. */
export function reportStepStats(source: () => import('./step-stats.ts').StepStats): void {
  stepStatsSource = source;
}
/** The SQL counters installed in this child, if any (for the per-step figures). */
export const currentSqlStats = (): SqlStats | undefined => sqlStatsSource?.();
/** The child's SQL counters, reported with its stats (bench/sql-stats.ts installs them). */
export function reportSqlStats(source: () => SqlStats): void {
  sqlStatsSource = source;
}

/**
 * CPU (all threads) and wall time of one argon2id hash and one verify, averaged over `rounds`, one
 * call at a time; and the CPU of one hash + one verify when `parallel` such pairs run at once (the
 * load's concurrency: on a shared 2-core machine a hash costs more CPU under contention).
 */
export interface HashCost {
  hashCpuMs: number;
  verifyCpuMs: number;
  hashWallMs: number;
  verifyWallMs: number;
  rounds: number;
  parallel: number;
  /** One hash + one verify, CPU ms, with `parallel` pairs at once. */
  pairCpuMsParallel: number;
  /** One verify, CPU ms, with `parallel` verifies at once. */
  verifyCpuMsParallel: number;
}

export type ToChild = { type: 'stats' } | { type: 'stop' } | { type: 'hash-cost'; rounds: number; parallel: number };
export type FromChild =
  | { type: 'ready'; issuer: string }
  | ({ type: 'stats' } & ServerStats)
  | ({ type: 'hash-cost' } & HashCost)
  | { type: 'error'; message: string };

export function readServerOptions(): ServerOptions {
  const raw = process.env.BENCH_SERVER;
  if (!raw) throw new Error('BENCH_SERVER is not set: bench servers are started by bench/run.ts');
  return JSON.parse(raw) as ServerOptions;
}

export function currentStats(): ServerStats {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  const main = process.threadCpuUsage();
  return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, mainThreadUs: main.user + main.system, threads: threadCpu(), rss: mem.rss, heapUsed: mem.heapUsed, heapTotal: mem.heapTotal, external: mem.external, ...(sqlStatsSource ? { sql: sqlStatsSource() } : {}), ...(stepStatsSource ? { steps: stepStatsSource() } : {}) };
}

/**
 * Measures, one after another with the server idle, `rounds` × (hash, then verify of that hash) with
 * the server's own hasher: process CPU (user + system, every thread: argon2 runs on the libuv pool)
 * and wall time per call; then the same with `parallel` at once (HashCost).
 */
export async function measureHashCost(
  hasher: { hash(password: string): Promise<string>; verify(hash: string, password: string): Promise<boolean> },
  rounds: number,
  parallel: number,
): Promise<HashCost> {
  let hashCpu = 0, verifyCpu = 0, hashWall = 0, verifyWall = 0;
  const cpu = () => { const c = process.cpuUsage(); return (c.user + c.system) / 1000; };
  // Unmeasured warm-up on every pool thread: a thread's first argon2 call pays the page faults of
  // its malloc arena growing by the hash's memory (several ms of system CPU), which would otherwise
  // land on whichever measured call that thread happens to run first.
  await Promise.all(Array.from({ length: Math.max(parallel, 8) }, async (_, i) => {
    const password = `bench hash cost warm-up ${i}`;
    await hasher.verify(await hasher.hash(password), password);
  }));
  for (let i = 0; i < rounds; i++) {
    const password = `bench hash cost ${i} ${Math.random()}`;
    let c0 = cpu(), w0 = performance.now();
    const hash = await hasher.hash(password);
    hashCpu += cpu() - c0;
    hashWall += performance.now() - w0;
    c0 = cpu();
    w0 = performance.now();
    if (!(await hasher.verify(hash, password))) throw new Error('hash cost: verify failed');
    verifyCpu += cpu() - c0;
    verifyWall += performance.now() - w0;
  }
  // The same with `parallel` pairs at once: hash + verify, then verifies alone.
  const pair = async (i: number) => {
    const password = `bench hash cost parallel ${i} ${Math.random()}`;
    if (!(await hasher.verify(await hasher.hash(password), password))) throw new Error('hash cost: verify failed');
  };
  const stored = await hasher.hash('bench hash cost verify');
  let c0 = cpu();
  for (let r = 0; r < rounds; r++) await Promise.all(Array.from({ length: parallel }, (_, i) => pair(i)));
  const pairParallel = (cpu() - c0) / (rounds * parallel);
  c0 = cpu();
  for (let r = 0; r < rounds; r++) await Promise.all(Array.from({ length: parallel }, () => hasher.verify(stored, 'bench hash cost verify')));
  const verifyParallel = (cpu() - c0) / (rounds * parallel);
  return {
    hashCpuMs: hashCpu / rounds, verifyCpuMs: verifyCpu / rounds, hashWallMs: hashWall / rounds, verifyWallMs: verifyWall / rounds,
    rounds, parallel, pairCpuMsParallel: pairParallel, verifyCpuMsParallel: verifyParallel,
  };
}

/**
 * Answers the parent's stats requests and stops on request (a normal exit, so `--cpu-prof` writes
 * its profile). `close` frees the server's resources first. With `hasher`, also answers hash-cost
 * requests (measureHashCost).
 */
export function serveParent(close: () => Promise<void>, hasher?: Parameters<typeof measureHashCost>[0]): void {
  const send = (m: FromChild) => process.send?.(m);
  process.on('message', (m: ToChild) => {
    if (m.type === 'stats') send({ type: 'stats', ...currentStats() });
    if (m.type === 'hash-cost') {
      if (!hasher) send({ type: 'error', message: 'this bench server has no hasher' });
      else measureHashCost(hasher, m.rounds, m.parallel).then((c) => send({ type: 'hash-cost', ...c }), (err: unknown) => send({ type: 'error', message: String(err) }));
    }
    if (m.type === 'stop') {
      close().then(() => process.exit(0), (err: unknown) => {
        send({ type: 'error', message: String(err) });
        process.exit(1);
      });
    }
  });
  // The parent went away (Ctrl-C): do not linger.
  process.on('disconnect', () => process.exit(0));
}

export function reportFailure(err: unknown): never {
  const message = err instanceof Error ? err.stack ?? err.message : String(err);
  process.send?.({ type: 'error', message } satisfies FromChild);
  console.error(message);
  process.exit(1);
}

