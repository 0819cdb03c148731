import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Browser, inputByAutocomplete } from '../support/browser.ts';
import { freePort } from '../support/server.ts';
import { waitFor } from '../unit/delivery/helpers.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const STAMP = join(ROOT, 'dist/.build-stamp');

interface Started { child: ChildProcess; output: () => string; stop(): Promise<void> }

/** `npm start` as a user types it, with the shipped config copied to a temporary folder (its data beside it). */
async function npmStart(configFile: string, env: Record<string, string>, waitMs: number): Promise<Started> {
  let output = '';
  const child = spawn('npm', ['start'], {
    cwd: ROOT,
    detached: true, // npm runs node as its child: stop the whole group
    env: { ...process.env, NODE_OPTIONS: '', OIDC_SSPR_CONFIG: configFile, HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => { output += d; });
  const stop = async () => {
    if (child.exitCode !== null) return;
    try { process.kill(-child.pid!, 'SIGTERM'); } catch { /* gone */ }
    await new Promise<void>((done) => { child.once('exit', () => done()); setTimeout(done, 5000); });
  };
  try {
    await waitFor(() => output.includes('oidc-sspr is serving') || child.exitCode !== null, waitMs);
  } catch (err) {
    await stop();
    throw new Error(`npm start did not serve:\n${output}\n${String(err)}`);
  }
  assert.ok(output.includes('oidc-sspr is serving'), output);
  return { child, output: () => output, stop };
}

/**
 * A fresh clone's first run (issue 18): `npm start` builds only when dist/ is missing or older than
 * src/, so the second start serves at once; with `OIDC_SSPR_ISSUER=http://localhost:<port>` and
 * `PORT` the shipped demo client follows the issuer and /demo signs in; the code of the registration
 * mail is printed on the console.
 */
describe('npm start: the first run of a clone (shipped config, another port)', function () {
  this.timeout(400_000);
  let dir: string;
  let config: string;
  let issuer: string;
  let port: number;
  let first: Started | undefined;
  let second: Started | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-first-run-'));
    mkdirSync(join(dir, 'config'));
    config = join(dir, 'config/oidc-sspr.yaml');
    cpSync(join(ROOT, 'config/oidc-sspr.yaml'), config);
    port = await freePort();
    issuer = `http://localhost:${port}`;
  });
  after(async () => {
    await first?.stop();
    await second?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the first start builds if dist/ is stale; the second does not build (stamp unchanged) and serves', async () => {
    const env = { OIDC_SSPR_ISSUER: issuer, PORT: String(port) };
    first = await npmStart(config, env, 300_000);
    assert.ok(existsSync(STAMP), 'a build leaves its stamp');
    const built = statSync(STAMP).mtimeMs;
    await first.stop();

    second = await npmStart(config, env, 60_000);
    assert.doesNotMatch(second.output(), /building dist\//, 'no build on the second start');
    assert.equal(statSync(STAMP).mtimeMs, built, 'dist/ was not built again');
    assert.match(second.output(), new RegExp(`try it: open ${issuer}/demo`));
  });

  it('/demo signs in on that issuer, with the registration code taken from the console', async () => {
    assert.ok(first && second, 'needs the starts above');
    const password = /user "demo", password "([^"]+)"/.exec(first.output())?.[1];
    assert.ok(password, first.output());
    const browser = new Browser();
    const origin = new URL(issuer).origin;
    let page = await browser.get(`${issuer}/demo/login`, origin);
    assert.equal(page.status, 200, page.html.slice(0, 500));
    assert.match(page.html, /class="client-name">Demo app</, 'the sign-in page names the demo app');
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'username')]: 'demo', [inputByAutocomplete(page.html, 'current-password')]: password });
    assert.match(page.url, /\/register$/, 'the demo user is asked to register');
    page = await browser.submit(page, { method: 'email' });
    const before = second.output().length;
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'email')]: 'demo.recovery@example.org' });
    let code = '';
    await waitFor(() => {
      const printed = second!.output().slice(before);
      // The message as written: "Email to …", its subject, then the text with the code alone on a line.
      const m = /Email to demo\.recovery@example\.org\nSubject: [^\n]+\n[\s\S]*?\n(\d{6,8})\n/.exec(printed);
      if (m) code = m[1];
      return code !== '';
    }, 15_000);
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: code });
    page = await browser.submit(page, {}, { actionPart: '/finish' });
    assert.equal(page.status, 200, page.html.slice(0, 500));
    assert.match(page.url, /\/demo\/callback/);
    assert.match(page.html, /Signed in as Demo User\./);
    assert.doesNotMatch(page.html.replace(/<pre>[\s\S]*?<\/pre>/g, ''), /[0-9a-f]{8}-[0-9a-f]{4}-/, 'no account uuid outside the claims');
  });
});
