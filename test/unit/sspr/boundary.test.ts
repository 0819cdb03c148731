import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return filesUnder(path);
    return e.name.endsWith('.ts') ? [path] : [];
  });
}

// Issue 17: the domain reaches storage only through src/sspr/ports.ts, so it runs on in-memory
// ports in tests and on any store a host brings. A stray import would quietly undo that.
describe('src/sspr stays behind its ports', () => {
  it('imports neither sequelize nor the fast-path SQL nor src/store, not even for a type', () => {
    const offending = filesUnder(join(root, 'src/sspr')).flatMap((file) => {
      const imports = [...readFileSync(file, 'utf8').matchAll(/^\s*(?:import|export)\b[^;]*?from\s+'([^']+)'/gm)].map((m) => m[1]);
      return imports.filter((spec) => /^sequelize$|fast-sql|(^|\/)store\//.test(spec)).map((spec) => `${relative(root, file)}: ${spec}`);
    });
    assert.deepEqual(offending, []);
  });
});
