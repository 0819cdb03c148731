/**
 * A bench server in its own child process (bench/sspr-server.ts, bench/bare-server.ts), driven over
 * IPC (bench/protocol.ts): start, stats, hash cost, stop.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FromChild, HashCost, ServerOptions, ServerStats, ToChild } from './protocol.ts';

const here = dirname(fileURLToPath(import.meta.url));

export class ServerProcess {
  readonly child: ChildProcess;
  issuer = '';
  private waiting: ((m: FromChild) => void)[] = [];
  private exited: Promise<number | null>;

  constructor(script: string, options: ServerOptions, execArgv: string[]) {
    this.child = fork(join(here, script), [], {
      env: { ...process.env, BENCH_SERVER: JSON.stringify(options) },
      execArgv: [...process.execArgv, ...execArgv],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (m: FromChild) => {
      if (m.type === 'error') console.error(`bench server error: ${m.message}`);
      this.waiting.shift()?.(m);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
  }

  private next(timeoutMs: number): Promise<FromChild> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('bench server did not answer')), timeoutMs);
      const done = (m: FromChild) => { clearTimeout(timer); resolve(m); };
      this.waiting.push(done);
      void this.exited.then((code) => { clearTimeout(timer); reject(new Error(`bench server exited (${code})`)); });
    });
  }

  static async start(script: string, options: ServerOptions, execArgv: string[] = []): Promise<ServerProcess> {
    const s = new ServerProcess(script, options, execArgv);
    const m = await s.next(120_000);
    if (m.type !== 'ready') throw new Error(`bench server failed to start: ${m.type === 'error' ? m.message : m.type}`);
    s.issuer = m.issuer;
    return s;
  }

  async stats(): Promise<ServerStats> {
    const reply = this.next(10_000);
    this.child.send({ type: 'stats' } satisfies ToChild);
    const m = await reply;
    if (m.type !== 'stats') throw new Error(`expected stats, got ${m.type}`);
    return m;
  }

  /** One argon2id hash + one verify with the server's own hasher, measured inside it (oidc-sspr only). */
  async hashCost(rounds: number, parallel: number): Promise<HashCost> {
    const reply = this.next(60_000);
    this.child.send({ type: 'hash-cost', rounds, parallel } satisfies ToChild);
    const m = await reply;
    if (m.type !== 'hash-cost') throw new Error(`expected hash-cost, got ${m.type}${m.type === 'error' ? `: ${m.message}` : ''}`);
    return m;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    this.child.send({ type: 'stop' } satisfies ToChild);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }
}
