import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Node's on-disk compile cache for the children a test process spawns from the sources (the CLI,
 * `src/main.ts`): each child loads and type-strips the same ~300 modules (≈ 1.4 s a CLI spawn, ≈ 1.0 s
 * with the cache). A private directory (mkdtemp, mode 0700), never a shared one — a cache entry is
 * code — removed when the test process exits.
 */
let dir: string | undefined;

export function compileCacheEnv(): { NODE_COMPILE_CACHE: string } {
  if (!dir) {
    const made = mkdtempSync(join(tmpdir(), 'sspr-compile-cache-'));
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
    dir = made;
  }
  return { NODE_COMPILE_CACHE: dir };
}
