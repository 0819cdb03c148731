import { userInfo } from 'node:os';
import type { Command } from 'commander';
import pino from 'pino';
import type { AccountService } from '../../admin/accounts.ts';
import type { AuditLog } from '../../audit/index.ts';
import { systemClock, type Clock } from '../../clock.ts';
import { composeSspr } from '../../compose.ts';
import { isSqlite, loadConfig, type LoadedConfig } from '../../config/load.ts';
import type { Config } from '../../config/schema.ts';
import { openStore, type Store } from '../../store/index.ts';

/** A mistake in how the command was called: exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Where a command reads and writes; tests and `run()` pass their own. */
export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream;
  env: NodeJS.ProcessEnv;
}

/** Options every command understands (declared on the program, usable after the subcommand too). */
export interface GlobalOptions {
  config?: string;
  json?: boolean;
}

export interface CliSession {
  loaded: LoadedConfig;
  config: Config;
  store: Store;
  clock: Clock;
  audit: AuditLog;
  accounts: AccountService;
  /** `cli:<os user>`, written as the actor of every audit event. */
  actor: string;
}

export function globalsOf(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export function load(io: CliIo, opts: GlobalOptions, generateSecrets = false): LoadedConfig {
  return loadConfig({ file: opts.config, env: io.env, generateSecrets });
}

/** The OS user running the command, as the audit actor. */
export function cliActor(env: NodeJS.ProcessEnv): string {
  let name: string | undefined;
  try {
    name = userInfo().username;
  } catch {
    name = env.USER ?? env.USERNAME;
  }
  return `cli:${name || 'unknown'}`;
}

/** Loads the config, opens the store (running migrations), runs `fn`, and always closes the store. */
export async function withSession<T>(io: CliIo, opts: GlobalOptions, fn: (s: CliSession) => Promise<T>): Promise<T> {
  let loaded = load(io, opts);
  // With SQLite the server keeps generated secrets in secrets.json; the CLI uses the same ones, since
  // the notices it queues are sealed with encryption_keys and the server's worker must open them.
  const { secrets } = loaded.config;
  if (isSqlite(loaded.config) && (secrets.cookie_keys.length === 0 || secrets.encryption_keys.length === 0)) loaded = load(io, opts, true);
  const { config } = loaded;
  let store: Store;
  try {
    store = await openStore({ url: config.database });
  } catch (err) {
    throw new Error(`database ${redactUrl(config.database)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    // The same composition root as the server: the admin service, its notices and policy check.
    // Notices are queued in the change's transaction; the server's delivery worker sends them. A
    // PostgreSQL config without encryption_keys still serves every command that queues nothing.
    const composed = await composeSspr({ config, store, clock: systemClock, log: pino({ level: 'silent' }) });
    const { clock, audit, admin: accounts } = composed;
    return await fn({ loaded, config, store, clock, audit, accounts, actor: cliActor(io.env) });
  } finally {
    await store.close();
  }
}

/** The database URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.protocol === 'sqlite:' ? url : u.toString();
  } catch {
    return url;
  }
}

/** Prints `json` with `--json`, else the text lines. */
export function output(io: CliIo, opts: GlobalOptions, json: unknown, text: string | string[]): void {
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(json, null, 2)}\n`);
    return;
  }
  const lines = Array.isArray(text) ? text : [text];
  if (lines.length > 0) io.stdout.write(`${lines.join('\n')}\n`);
}

/** Reads one line from stdin (without its line ending). */
export async function readLine(stdin: NodeJS.ReadableStream): Promise<string> {
  let buffer = '';
  if ('setEncoding' in stdin && typeof stdin.setEncoding === 'function') stdin.setEncoding('utf8');
  for await (const chunk of stdin) {
    buffer += typeof chunk === 'string' ? chunk : Buffer.from(chunk as Uint8Array).toString('utf8');
    const end = buffer.indexOf('\n');
    if (end >= 0) return buffer.slice(0, end).replace(/\r$/, '');
  }
  return buffer.replace(/\r$/, '');
}

/** `--password P` or `--password-stdin`, exactly one. */
export async function passwordFrom(io: CliIo, opts: { password?: string; passwordStdin?: boolean }): Promise<string> {
  if (opts.password !== undefined && opts.passwordStdin) throw new UsageError('give either --password or --password-stdin, not both');
  if (opts.passwordStdin) {
    const pw = await readLine(io.stdin);
    if (pw === '') throw new UsageError('--password-stdin: stdin gave an empty line');
    return pw;
  }
  if (opts.password === undefined) throw new UsageError('a password is required: --password <password> or --password-stdin');
  return opts.password;
}

/** `b***@example.org`: first character of the local part, then the domain. */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@');
  if (at <= 0) return '***';
  return `${email[0]}***${email.slice(at)}`;
}

/** `+31*******78`: country prefix and the last two digits. */
export function maskPhone(phone: string): string {
  if (phone.length <= 5) return '*'.repeat(phone.length);
  return `${phone.slice(0, 3)}${'*'.repeat(phone.length - 5)}${phone.slice(-2)}`;
}

export function maskTarget(type: string, target: string | null): string | null {
  if (target === null) return null;
  if (type === 'email') return maskEmail(target);
  if (type === 'sms') return maskPhone(target);
  // A passkey's "target" is the name its owner gave it: nothing to hide.
  if (type === 'passkey') return target;
  return '***';
}

export function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

export function yesNo(v: boolean): string {
  return v ? 'yes' : 'no';
}
