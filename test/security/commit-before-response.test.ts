import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DatabaseSync } from 'node:sqlite';
import { Browser } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';

/**
 * SQLite's writes share commits (src/store/sqlite-group-commit.ts), and the provider's state is what
 * the next request — on this instance, another process, or after a crash — relies on: a session and a
 * token the app holds must exist, an interaction past the login page the browser is sent to must
 * exist, a counted guess must be counted (a sign-in still in progress — its login page and its code —
 * lives in memory on SQLite: src/provider/sign-in-memory.ts). So at the moment each response is
 * ended, everything it wrote must already be visible to another connection. Checked inside `res.end`
 * itself, before a byte leaves.
 */
describe('SQLite: a response leaves only after its writes are committed', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let user: SeededUser;
  let outsider: DatabaseSync;
  const seen: { path: string; providerRows: number; auditRows: number; throttleRows: number }[] = [];

  before(async () => {
    db = createSqliteDatabase();
    srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    user = await seedUser(srv.app, { login: 'erin' });
    outsider = new DatabaseSync(db.url.slice('sqlite:'.length), { readOnly: true });
    const count = (table: string) => Number((outsider.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    srv.server.prependListener('request', (req: IncomingMessage, res: ServerResponse) => {
      const end = res.end.bind(res) as (...args: unknown[]) => ServerResponse;
      res.end = ((...args: unknown[]) => {
        seen.push({ path: `${req.method} ${(req.url ?? '').split('?')[0]!.replace(/\/(interaction|auth)\/[^/]+/, '/$1/:uid')}`, providerRows: count('oidc_payloads'), auditRows: count('audit_events'), throttleRows: count('throttles') });
        return end(...args);
      }) as typeof res.end;
    });
  });
  after(async () => { outsider?.close(); await srv?.close(); await db?.drop(); });

  it('every step of a sign-in: the step past the login page, the counted guess, the audit event, session, grant and token', async () => {
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page: first, verifier, state } = await rp.start(browser);
    const done = await consentIfAsked(browser, await signIn(browser, first, user.login, user.password));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `expected a redirect to the client, got ${done.status} ${done.html.slice(0, 200)}`);
    const before = seen.length;
    const tokens = await rp.finish(done.redirectedTo!, verifier, state);
    assert.ok(tokens.access_token);
    const steps = Object.fromEntries(seen.map((s) => [s.path, s]));
    // GET /auth kept the login page's interaction in memory (src/provider/sign-in-memory.ts: on
    // SQLite a restart forgets a sign-in in progress, and test/http/restart-login-page.test.ts shows
    // what the user and the app then see); the step after it is in the database before the browser
    // is sent there.
    assert.equal(steps['GET /auth']!.providerRows, 0, JSON.stringify(seen));
    const firstResume = seen.find((s) => s.path === 'GET /auth/:uid')!;
    assert.ok(firstResume.providerRows >= 2, `the session and the consent step's interaction: ${JSON.stringify(firstResume)}`);
    // The POST recorded the sign-in (audit) and the interaction's result before answering.
    const post = steps['POST /interaction/:uid/login']!;
    assert.ok(post.auditRows >= 1, JSON.stringify(post));
    // The (last) resume stored session and grant (and dropped the consent step's interaction) before
    // redirecting to the app; the code, a sign-in still in progress, is kept in memory.
    const resume = steps['GET /auth/:uid']!;
    assert.ok(resume.providerRows >= 2, JSON.stringify(resume));
    // The token response: the access token exists before the app holds it.
    const token = seen.slice(before).find((s) => s.path === 'POST /token');
    assert.ok(token && token.providerRows > resume.providerRows, JSON.stringify(seen.slice(before)));
  });

  it('a wrong password: the guess counted while the hash was checked is committed, with its audit event, before the answer leaves', async () => {
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    const { page } = await rp.start(browser);
    const from = seen.length;
    const auditBefore = seen.at(-1)!.auditRows;
    const refused = await signIn(browser, page, user.login, 'not the password at all');
    assert.equal(refused.status, 401);
    const post = seen.slice(from).find((s) => s.path === 'POST /interaction/:uid/login');
    assert.ok(post && post.throttleRows >= 2, `the account's and the client's counts: ${JSON.stringify(post)}`);
    assert.equal(post.auditRows, auditBefore + 1, `the failure's audit event: ${JSON.stringify(post)}`);
  });
});
