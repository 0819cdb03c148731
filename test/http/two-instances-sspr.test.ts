import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Browser, attr, inputByAutocomplete, link, type Page } from '../support/browser.ts';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;

/**
 * Two instances behind one issuer on one PostgreSQL database: every step of the reset and of the
 * registration alternates between them, so no step may depend on memory of the instance that
 * served the one before (flows, codes, throttles and the delivery queue live in the database).
 */
describe('registration and reset alternate between two instances (PostgreSQL)', function () {
  let db: TestDatabase;
  let a: TestServer;
  let b: TestServer;
  let smtp: Smtp;
  let origins: [string, string];
  let turn = 0;

  before(async function () {
    if (!(await postgresAvailable())) {
      console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
      this.skip();
    }
    db = await createPostgresDatabase();
    smtp = await startSmtpServer();
    const outbox = mkdtempSync(join(tmpdir(), 'oidc-sspr-outbox-'));
    const overrides = {
      delivery: { outbox_dir: outbox, email: { transport: 'smtp' as const, smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
      sspr: { enabled_for: 'all' as const, methods: ['email' as const] },
    };
    a = await startTestServer({ database: db.url, port: await freePort(), overrides });
    b = await startTestServer({ database: db.url, port: await freePort(), overrides: { ...overrides, issuer: a.issuer } });
    origins = [new URL(a.issuer).origin, `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`];
  });
  after(async () => { await a?.close(); await b?.close(); await smtp?.close(); await db?.drop(); });

  /** A browser whose every request goes to the next instance in turn, as a round-robin balancer would. */
  function balanced(browser: Browser): Browser {
    const request = browser.request.bind(browser);
    browser.request = async (url, init) => {
      const target = origins[turn++ % 2];
      const u = new URL(url);
      const rewritten = origins.includes(u.origin) ? url.replace(u.origin, target) : url;
      browser.cookies = browser.cookies.map((c) => (origins.includes(c.origin) ? { ...c, origin: target } : c));
      const page = await request(rewritten, init);
      // Both instances are one site to the browser (as behind a balancer): links and redirects that
      // name either address are read as the public one.
      const headers = new Headers(page.headers);
      const location = headers.get('location');
      if (location) for (const o of origins) headers.set('location', headers.get('location')!.replace(o, origins[0]));
      return { ...page, headers, url: page.url.replace(target, origins[0]) };
    };
    return browser;
  }

  async function codeFor(to: string, since: number): Promise<string> {
    await waitFor(() => smtp.received.slice(since).some((m) => m.to.includes(to) && CODE_RUN.test(m.text)), 15_000);
    return smtp.received.slice(since).find((m) => m.to.includes(to))!.text.match(CODE_RUN)![0];
  }

  it('registers an email method at sign-in, then resets the password, each step on the other instance', async () => {
    const user = await seedUser(a.app, { login: 'olga' });
    const rp = await relyingParty(a.issuer);
    const browser = balanced(new Browser());
    let page: Page & { redirectedTo?: string } = (await rp.start(browser)).page;
    page = await signIn(browser, page, 'olga', user.password);
    assert.match(page.url, /\/register/, 'interrupted for registration');
    page = await browser.submit(page, { method: 'email' });
    const recovery = 'olga.private@example.net';
    let since = smtp.received.length;
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'email')]: recovery });
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: await codeFor(recovery, since) });
    page = await browser.submit(page, {}, { actionPart: '/finish' });
    page = await consentIfAsked(browser, page);
    assert.ok(page.redirectedTo?.startsWith(rp.redirectUri), `registration ended at ${page.status} ${page.url} ${page.headers.get("location")} ${browser.history.slice(-6).join(" / ")}`);

    // The forgot-password flow, from a new authorization request's sign-in page.
    const fresh = balanced(new Browser());
    const second = await rp.start(fresh);
    page = await fresh.get(new URL(link(second.page.html, 'forgot-password'), a.issuer).toString());
    page = await fresh.submit(page, { [inputByAutocomplete(page.html, 'username')]: 'olga' });
    page = await fresh.submit(page, { method: 'email' });
    since = smtp.received.length;
    page = await fresh.submit(page, { target: recovery });
    page = await fresh.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: await codeFor(recovery, since) });
    const names = [...page.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
    assert.equal(names.length, 2, `expected the new-password page, got ${page.status} ${page.url}`);
    page = await fresh.submit(page, { [names[0]]: 'harbour quilt meadow 4471', [names[1]]: 'harbour quilt meadow 4471' });
    assert.match(page.html, /autocomplete="current-password"/, 'back on the sign-in page of the same request');
    page = await consentIfAsked(fresh, await signIn(fresh, page, 'olga', 'harbour quilt meadow 4471'));
    assert.ok(page.redirectedTo?.startsWith(rp.redirectUri), `sign-in after reset ended at ${page.status} ${page.url}`);
    assert.ok(turn > 10, 'the steps really alternated');
  });
});
