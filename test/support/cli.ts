import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { compileCacheEnv } from './compile-cache.ts';

const ROOT = resolve(import.meta.dirname, '../..');

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs the real CLI as a child process, the way `npm run cli --` does, against one config file. */
export function runCli(args: string[], options: { config: string; stdin?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, ...compileCacheEnv(), OIDC_SSPR_CONFIG: options.config, ...options.env };
  delete env.DATABASE_URL;
  delete env.OIDC_SSPR_DEBUG;
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, ['src/cli/main.ts', ...args], { cwd: ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
    child.stdin.end(options.stdin ?? '');
  });
}

/** Success: exit 0 and nothing on stderr. */
export function cliOk(r: CliResult, what = 'command'): CliResult {
  assert.equal(r.code, 0, `${what}: exit code 0 expected; stderr: ${r.stderr}`);
  assert.equal(r.stderr, '');
  return r;
}

/** A failure is exactly one `error: ...` line on stderr and nothing on stdout. */
export function assertOneLineError(r: CliResult, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code; stderr: ${r.stderr}`);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, `one line on stderr, got:\n${r.stderr}`);
  assert.match(lines[0], /^error: /);
  assert.match(lines[0], pattern);
}
