import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * Node's on-disk compile cache for the CLI children of this test process: each child loads and
 * type-strips the same ~300 modules (≈ 1.4 s a spawn, ≈ 1.0 s with the cache; the CLI tests spawn a
 * few hundred). A private directory (mkdtemp, mode 0700), never a shared one: a cache entry is code.
 */
let compileCache: string | undefined;
function compileCacheDir(): string {
  if (!compileCache) {
    const dir = mkdtempSync(join(tmpdir(), 'sspr-cli-cache-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    compileCache = dir;
  }
  return compileCache;
}

export interface CliResult { code: number | null; stdout: string; stderr: string }

/** Runs the real CLI as a child process, the way `npm run cli --` does, against one config file. */
export function runCli(args: string[], options: { config: string; stdin?: string; env?: NodeJS.ProcessEnv }): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_COMPILE_CACHE: compileCacheDir(), OIDC_SSPR_CONFIG: options.config, ...options.env };
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
