import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.ts';
import { Browser, findForm } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { relyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

function writeConfig(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-cfg-'));
  const file = join(dir, 'oidc-sspr.yaml');
  writeFileSync(file, yaml);
  return file;
}

describe('bad configuration files', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['not YAML', 'issuer: [unclosed', /not valid YAML/],
    ['an unknown key', 'isuer: http://localhost:3000\n', /\(top level\): unknown key "isuer"/],
    ['an unknown method', 'sspr:\n  methods: [email, pigeon]\n', /^sspr\.methods\.1: /],
    ['methods_required: 3', 'sspr:\n  methods_required: 3\n', /^sspr\.methods_required: must be 1 or 2/],
    ['selected without groups', 'sspr:\n  enabled_for: selected\n', /^sspr\.groups: list at least one group/],
    ['a bad port', 'port: seventy\n', /^port: /],
    ['a client without secret', 'clients:\n  - client_id: x\n    redirect_uris: [http://localhost/cb]\n', /^clients\.0\.client_secret: required/],
    ['the change-me placeholder', 'secrets:\n  cookie_keys: [change-me]\n', /secrets/],
    ['PostgreSQL without secrets', 'database: postgres://x@127.0.0.1/db\n', /^secrets\.cookie_keys .*required with PostgreSQL/],
  ];
  for (const [what, yaml, expected] of cases) {
    it(`names the key and the problem for ${what}`, () => {
      const file = writeConfig(yaml);
      assert.throws(() => loadConfig({ file, env: {} }), (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        assert.ok(!err.message.includes('\n'), 'one line');
        assert.match(err.message, expected);
        return true;
      });
    });
  }

  it('stops the server with one clear line and a non-zero exit', () => {
    const file = writeConfig('sspr:\n  methods_required: 3\n');
    const run = spawnSync(process.execPath, ['src/main.ts'], { env: { ...process.env, OIDC_SSPR_CONFIG: file }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(run.status, 1);
    const lines = run.stderr.trim().split('\n');
    assert.equal(lines.length, 1, run.stderr);
    assert.match(lines[0], /^config error: sspr\.methods_required: must be 1 or 2$/);
  });
});

describe('bad requests get a clear answer and change nothing', function () {
  let db: TestDatabase;
  let srv: TestServer;

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    await seedUser(srv.app, { login: 'dave' });
  });
  after(async () => { await srv?.close(); await db?.drop(); });

  async function snapshot() {
    const accounts = await srv.app.store.models.Account.findAll({ raw: true, order: [['id', 'ASC']] });
    return JSON.stringify(accounts);
  }

  it('shows our error page for an unknown client', async () => {
    const page = await new Browser().get(`${srv.issuer}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:1/cb`);
    assert.equal(page.status, 400);
    assert.match(page.html, /data-error-code="invalid_client"/);
    assert.doesNotMatch(page.html, /at .*\.(ts|js):\d+/, 'no stack trace');
  });

  it('shows our error page for a redirect URI the client did not register', async () => {
    const page = await new Browser().get(`${srv.issuer}/auth?client_id=test-app&response_type=code&scope=openid&redirect_uri=https://evil.example/cb`);
    assert.equal(page.status, 400);
    assert.match(page.html, /data-error-code="invalid_redirect_uri"/);
  });

  it('refuses oversized, malformed and cross-site form posts, and SQL-looking names, without changing data', async () => {
    const before = await snapshot();
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page } = await rp.start(browser);
    const form = findForm(page.html);
    const action = new URL(form.action, page.url).toString();
    const post = (body: string, contentType?: string) => browser.request(action, { body, contentType });

    const huge = await post(`csrf=${form.hidden.csrf}&login=${'a'.repeat(40_000)}&password=x`);
    assert.equal(huge.status, 413);
    assert.match(huge.html, /data-error-code="payload_too_large"/);

    const array = await post(`csrf=${form.hidden.csrf}&login=a&login=b&password=x`);
    assert.equal(array.status, 400);
    const nested = await post(`csrf=${form.hidden.csrf}&login[x]=a&password=x`);
    assert.equal(nested.status, 400);
    const json = await post(JSON.stringify({ login: 'dave', password: 'x' }), 'application/json');
    assert.equal(json.status, 400);
    const badEncoding = await post(`csrf=${form.hidden.csrf}&login=%E0%A4%A&password=x`);
    // A refused sign-in goes back to the sign-in page by redirect (post → redirect → get).
    assert.ok([400, 303].includes(badEncoding.status), `got ${badEncoding.status}`);
    const noCsrf = await post('login=dave&password=x');
    assert.equal(noCsrf.status, 403);
    assert.match(noCsrf.html, /data-error-code="csrf"/);

    for (const name of ["' OR '1'='1", "dave'; DROP TABLE accounts; --", 'dave" OR 1=1 --']) {
      const res = await browser.follow(action, { body: new URLSearchParams({ csrf: form.hidden.csrf, login: name, password: "' OR ''='" }).toString() });
      assert.equal(res.status, 401, name);
      assert.match(res.html, /data-message-id="errors:invalid_credentials"/);
    }
    for (const res of [huge, array, nested, json, noCsrf]) assert.doesNotMatch(res.html, /at .*\.(ts|js):\d+/);
    assert.equal(await snapshot(), before);
    // The server still serves.
    const health = await browser.request(`${srv.issuer}/healthz`);
    assert.equal(health.status, 200);
  });
});
