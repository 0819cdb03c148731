import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configSchema } from '../../src/config/schema.ts';
import { createOutboxTransport } from '../../src/delivery/outbox.ts';
import { demoClientOf, demoFollowsIssuer, displayName } from '../../src/demo/routes.ts';

const ROOT = resolve(import.meta.dirname, '../..');

describe('first run (issue 18)', () => {
  describe('npm start builds only when dist/ is missing or older than src/', () => {
    let dir: string;
    const marker = () => join(dir, 'builds.log');
    const builds = () => readFileSync(marker(), 'utf8').trim().split('\n').filter(Boolean).length;
    const start = () => execFileSync(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: dir, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });

    before(() => {
      // A project with our scripts and a stand-in build that only leaves a marker (and the stamp, as after-build does).
      dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-build-'));
      cpSync(join(ROOT, 'scripts'), join(dir, 'scripts'), { recursive: true });
      mkdirSync(join(dir, 'src'));
      writeFileSync(join(dir, 'src/main.ts'), 'export {};\n');
      writeFileSync(marker(), '');
      const build = `node -e "const fs=require('fs');fs.appendFileSync('builds.log','built\\\\n');fs.mkdirSync('dist',{recursive:true});fs.writeFileSync('dist/.build-stamp','x')"`;
      writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'x', private: true, scripts: { build } }));
    });
    after(() => rmSync(dir, { recursive: true, force: true }));

    it('builds when dist/ was never built, not on the next start, and again once src/ changed', () => {
      assert.match(start(), /building dist\/ \(dist\/ has not been built yet\)/);
      assert.equal(builds(), 1);
      assert.equal(start(), '', 'the second start goes straight to serving');
      assert.equal(builds(), 1);
      // An edit after the last build: the stamp is older than a source file.
      const earlier = new Date(Date.now() - 3_600_000);
      utimesSync(join(dir, 'dist/.build-stamp'), earlier, earlier);
      assert.match(start(), /building dist\/ \(src changed since the last build\)/);
      assert.equal(builds(), 2);
      assert.equal(start(), '');
      assert.equal(builds(), 2);
    });

    it('package.json: prestart checks instead of building; the build writes the stamp; prepare shares the check', () => {
      const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
      assert.equal(pkg.scripts.prestart, 'node scripts/build-if-stale.mjs');
      assert.match(pkg.scripts.build, /scripts\/after-build\.mjs/);
      assert.match(readFileSync(join(ROOT, 'scripts/prepare.mjs'), 'utf8'), /staleReason\(\)/);
    });
  });

  describe('the demo client follows the issuer', () => {
    const shipped = () => configSchema.parse({
      issuer: 'http://localhost:3000',
      clients: [{ client_id: 'demo-app', client_secret: 'demo-app-secret-not-for-production', redirect_uris: ['http://localhost:3000/demo/callback'], post_logout_redirect_uris: ['http://localhost:3000/demo'], client_name: 'Demo app', client_uri: 'http://localhost:3000/demo' }],
    });

    it('on another local issuer (OIDC_SSPR_ISSUER=http://localhost:3999) /demo is served', () => {
      const config = { ...shipped(), issuer: 'http://localhost:3999' };
      assert.equal(demoClientOf(config), undefined, 'without following, /demo would be off');
      const moved = demoFollowsIssuer(config);
      assert.equal(moved.note, null);
      const client = demoClientOf(moved.config);
      assert.deepEqual(client?.redirect_uris, ['http://localhost:3999/demo/callback']);
      assert.deepEqual(client?.post_logout_redirect_uris, ['http://localhost:3999/demo']);
      assert.equal(client?.client_uri, 'http://localhost:3999/demo');
    });

    it('on a public issuer nothing is rewritten, and one line says why /demo is off', () => {
      const config = { ...shipped(), issuer: 'https://login.example.org' };
      const r = demoFollowsIssuer(config);
      assert.equal(demoClientOf(r.config), undefined);
      assert.match(r.note ?? '', /^\/demo is off: client "demo-app" has no redirect URI https:\/\/login\.example\.org\/demo\/callback/);
      assert.ok(!r.note!.includes('\n'));
    });

    it('the shipped config/oidc-sspr.yaml names its demo client', () => {
      const yaml = readFileSync(join(ROOT, 'config/oidc-sspr.yaml'), 'utf8');
      assert.match(yaml, /client_name: Demo app/);
    });

    it('greets by name, never by the account uuid', () => {
      assert.equal(displayName({ sub: '5fdd19fa-0000-4000-8000-000000000000', name: 'Demo User', preferred_username: 'demo' }), 'Demo User');
      assert.equal(displayName({ sub: '5fdd19fa-0000-4000-8000-000000000000', preferred_username: 'demo' }), 'demo');
      assert.equal(displayName({ sub: '5fdd19fa-0000-4000-8000-000000000000' }), null);
    });
  });

  describe('the outbox transport in development', () => {
    it('prints the message text, code included, when asked (npm start in development), else files only', async () => {
      const dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-outbox-'));
      try {
        const printed: string[] = [];
        const echoing = createOutboxTransport({ dir, log: () => {}, echo: (t) => printed.push(t) });
        await echoing.send({ channel: 'email', to: 'a@example.org', subject: 'Your code', text: 'Hello,\n\n123456\n\nBye\n' });
        assert.equal(printed.length, 1);
        assert.match(printed[0], /Email to a@example\.org\nSubject: Your code\n\nHello,\n\n123456\n\nBye\n/);
        const quiet = createOutboxTransport({ dir, log: () => {} });
        await quiet.send({ channel: 'sms', to: '+31612345678', text: '654321 is your code' });
        assert.equal(printed.length, 1);
        assert.equal(readdirSync(dir).length, 2, 'both are written to the outbox folder');
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
