import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Browser, inputByAutocomplete } from '../support/browser.ts';
import { freePort } from '../support/server.ts';
import { waitFor } from '../unit/delivery/helpers.ts';
import { compileCacheEnv } from '../support/compile-cache.ts';

const ROOT = resolve(import.meta.dirname, '../..');

/**
 * What `npm start` does on a fresh clone, in a temporary folder: no secrets given (generated), an
 * empty SQLite database (demo account printed once), the outbox as the only transport — and the
 * demo app can be clicked through: sign in, register an email method with the code from the
 * outbox, land back in the demo app with the ID token's claims.
 */
describe('npm start on an empty database (demo mode)', function () {
  this.timeout(60_000);
  let dir: string;
  let child: ChildProcess;
  let output = '';
  let issuer: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-start-'));
    const port = await freePort();
    issuer = `http://localhost:${port}`;
    writeFileSync(join(dir, 'oidc-sspr.yaml'), [
      `issuer: ${issuer}`,
      `port: ${port}`,
      'database: sqlite:data/oidc-sspr.sqlite',
      'demo: true',
      'password_hashing: { memory_kib: 8192, time_cost: 1, parallelism: 1 }',
      'delivery: { outbox_dir: data/outbox }',
      'clients:',
      '  - client_id: demo-app',
      '    client_secret: demo-app-secret-for-the-test',
      `    redirect_uris: [${issuer}/demo/callback]`,
      `    post_logout_redirect_uris: [${issuer}/demo]`,
      '    first_party: true',
      '',
    ].join('\n'));
    child = spawn(process.execPath, ['src/main.ts'], { cwd: ROOT, env: { ...process.env, ...compileCacheEnv(), OIDC_SSPR_CONFIG: join(dir, 'oidc-sspr.yaml'), HOST: '127.0.0.1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
    await waitFor(() => output.includes('oidc-sspr is serving'), 30_000);
  });
  after(() => {
    child?.kill('SIGTERM');
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('prints the URL and the demo account, generates secrets, and the demo app signs in through registration', async () => {
    assert.match(output, new RegExp(`serving ${issuer}`));
    const password = /user "demo", password "([^"]+)"/.exec(output)?.[1];
    assert.ok(password, output);
    assert.ok(readdirSync(join(dir, 'data')).includes('secrets.json'));

    const browser = new Browser();
    const base = issuer.replace('localhost', '127.0.0.1');
    // The browser speaks to 127.0.0.1; the issuer says localhost: treat them as one site.
    const origin = new URL(issuer).origin;
    const get = (url: string) => browser.get(url.replace(base, issuer), origin);
    let page = await get(`${issuer}/demo/login`);
    assert.match(page.html, /autocomplete="current-password"/);
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'username')]: 'demo', [inputByAutocomplete(page.html, 'current-password')]: password });
    assert.match(page.url, /\/register$/, 'the demo user is asked to register');
    page = await browser.submit(page, { method: 'email' });
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'email')]: 'demo.recovery@example.org' });
    const outbox = join(dir, 'data/outbox');
    let code = '';
    await waitFor(() => {
      try {
        for (const f of readdirSync(outbox)) {
          const m = /\b(\d{6,8})\b/.exec(JSON.parse(readFileSync(join(outbox, f), 'utf8')).text as string);
          if (m) code = m[1];
        }
      } catch { /* not written yet */ }
      return code !== '';
    }, 15_000);
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: code });
    page = await browser.submit(page, {}, { actionPart: '/finish' });
    assert.equal(page.status, 200, page.html.slice(0, 500));
    assert.match(page.url, /\/demo\/callback/);
    assert.match(page.html, /&#34;preferred_username&#34;: &#34;demo&#34;|"preferred_username": "demo"/);
  });
});
