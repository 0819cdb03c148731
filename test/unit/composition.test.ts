import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const SRC = join(import.meta.dirname, '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

const files = sources(SRC).map((path) => ({ path: relative(SRC, path), text: readFileSync(path, 'utf8') }));

/**
 * shared/DESIGN.md: one builder wires config, store, delivery, audit and clock for the server, the
 * CLI and createSspr alike. Checked on the source, so a fourth place that wires is caught at once.
 */
describe('one composition root (src/compose.ts)', () => {
  const factories = ['createAuditLog', 'createDelivery', 'createSequelizeDirectory', 'createAccountService',
    'createRegistrationFlow', 'createResetFlow', 'createPasswordChange', 'createSignInGuard', 'createPasswordPolicy'];
  for (const name of factories) {
    it(`only src/compose.ts calls ${name}`, () => {
      const callers = files.filter((f) => new RegExp(`(?<!function )\\b${name}\\(`).test(f.text)).map((f) => f.path);
      assert.deepEqual(callers, ['compose.ts']);
    });
  }

  it('our server, the CLI and createSspr all build from it', () => {
    for (const path of ['app.ts', 'extension.ts', join('cli', 'commands', 'context.ts')]) {
      assert.match(files.find((f) => f.path === path)!.text, /\bcomposeSspr\(/, path);
    }
  });

  it('route files take their collaborators and never reach into the store', () => {
    for (const f of files.filter((file) => file.path.startsWith(`interactions`))) {
      assert.doesNotMatch(f.text, /from '\.\.\/store\//, f.path);
    }
  });
});
