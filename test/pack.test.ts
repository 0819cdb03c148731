import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from './support/db.ts';

const run = promisify(execFile);
const repo = new URL('..', import.meta.url).pathname;

/** A host's first file: the factory and the port, type-checked strictly and then run. */
const CONSUMER = `import { createSspr, type AccountDirectory, type DirectoryAccount } from 'oidc-sspr';

const users = new Map<string, DirectoryAccount>();
const directory: AccountDirectory = {
  findById: async (id) => users.get(id) ?? null,
  findByIdentifier: async (login) => [...users.values()].find((u) => u.login === login) ?? null,
  listAdmins: async () => [...users.values()].filter((u) => u.isAdmin),
  verifyPassword: async () => false,
  setPassword: async () => {},
  revokeEverything: async () => {},
};
const secrets = { cookie_keys: ['cookie-key-0123456789abcdef0123'], encryption_keys: ['encryption-key-0123456789abcdef0'] };

// @ts-expect-error The policy is typed: 'nobody' is not a scope (an unused directive fails tsc if types were lost).
void (() => createSspr({ directory, database: '', config: { sspr: { enabled_for: 'nobody' }, secrets } }));

const sspr = await createSspr({ directory, database: process.env.DATABASE_URL!, config: { sspr: { enabled_for: 'all' }, secrets } });
const prompts: string[] = sspr.interactionPolicy().map((prompt) => prompt.name);
console.log(JSON.stringify({ prompts }));
await sspr.stop();
`;

const TSCONFIG = {
  compilerOptions: { target: 'ES2023', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true, types: ['node'], skipLibCheck: false },
  files: ['index.ts'],
};

/** Runs a command, printing it and how long it took; failures show its output. */
async function step(what: string, file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env) {
  const started = Date.now();
  console.log(`      ${what}: ${[file === process.execPath ? 'node' : file, ...args].join(' ')}`);
  try {
    const out = await run(file, args, { cwd, env, maxBuffer: 32 * 1024 * 1024 });
    console.log(`      … ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return out.stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${what} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}

describe('npm package: packs, installs in a fresh folder, type-checks and runs', function () {
  this.timeout(180_000);
  const work = mkdtempSync(join(tmpdir(), 'oidc-sspr-pack-'));
  const project = join(work, 'host');
  // A child of this test must not resolve 'oidc-sspr' to src/ (the "source" condition) or inherit mocha's options.
  const env = { ...process.env, NODE_OPTIONS: '' };
  let db: TestDatabase | undefined;

  after(async () => {
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('npm pack builds dist/ and the tarball; a new project installs it and tsc accepts the published types', async () => {
    await step('pack (prepare builds dist/)', 'npm', ['pack', '--silent', '--pack-destination', work], repo, env);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');

    const listing = await step('list the tarball', 'tar', ['tzf', join(work, tarball)], work);
    for (const file of ['package/dist/src/index.js', 'package/dist/src/index.d.ts', 'package/dist/src/sspr/data/common-passwords.txt', 'package/views/login.ejs']) {
      assert.ok(listing.split('\n').includes(file), `${file} is in the package`);
    }
    assert.doesNotMatch(listing, /package\/(src|test|examples)\//, 'no sources, tests or examples');

    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'host', private: true, type: 'module' }, null, 2));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG, null, 2));
    writeFileSync(join(project, 'index.ts'), CONSUMER);
    await step('install', 'npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', join(work, tarball), 'typescript@5.9', '@types/node@24'], project, env);
    await step('type-check (strict, NodeNext, skipLibCheck off)', join(project, 'node_modules/.bin/tsc'), ['-p', '.'], project, env);
  });

  it('runs the factory under Node 24 over a fresh PostgreSQL database: the policy has the mfa and register prompts', async function () {
    if (!(await postgresAvailable())) {
      console.log('      skipped: no PostgreSQL answers at TEST_PG_URL (the run needs a database)');
      this.skip();
    }
    db = await createPostgresDatabase();
    const stdout = await step('run', process.execPath, ['index.ts'], project, { ...env, DATABASE_URL: db.url, LOG_LEVEL: 'warn' });
    const line = stdout.split('\n').find((l) => l.startsWith('{"prompts"'));
    assert.ok(line, `printed the prompts:\n${stdout}`);
    const { prompts } = JSON.parse(line) as { prompts: string[] };
    assert.deepEqual(prompts, ['login', 'mfa', 'register', 'consent']);
  });
});
