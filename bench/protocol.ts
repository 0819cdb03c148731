/**
 * The IPC protocol between the benchmark (parent, load generator) and a bench server (child).
 * Each server runs in its own process so its CPU time and RSS are its own.
 */

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
}

export interface ServerStats {
  /** process.cpuUsage(): user + system, microseconds, all threads (argon2 runs on the libuv pool). */
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
  heapUsed: number;
}

export type ToChild = { type: 'stats' } | { type: 'stop' };
export type FromChild =
  | { type: 'ready'; issuer: string }
  | ({ type: 'stats' } & ServerStats)
  | { type: 'error'; message: string };

export function readServerOptions(): ServerOptions {
  const raw = process.env.BENCH_SERVER;
  if (!raw) throw new Error('BENCH_SERVER is not set: bench servers are started by bench/run.ts');
  return JSON.parse(raw) as ServerOptions;
}

export function currentStats(): ServerStats {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return { cpuUserUs: cpu.user, cpuSystemUs: cpu.system, rss: mem.rss, heapUsed: mem.heapUsed };
}

/**
 * Answers the parent's stats requests and stops on request (a normal exit, so `--cpu-prof` writes
 * its profile). `close` frees the server's resources first.
 */
export function serveParent(close: () => Promise<void>): void {
  const send = (m: FromChild) => process.send?.(m);
  process.on('message', (m: ToChild) => {
    if (m.type === 'stats') send({ type: 'stats', ...currentStats() });
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

/** A free TCP port on 127.0.0.1 (the issuer URL must be known before the provider is built). */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}
