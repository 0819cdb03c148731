import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Browser, attr, inputByAutocomplete, link, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
const TOKEN = 'metrics-token-for-flow-tests';

describe('/metrics counters move with a registration and a reset', function () {
  let db: TestDatabase;
  let srv: TestServer;
  let smtp: Smtp;

  before(async () => {
    db = createSqliteDatabase();
    smtp = await startSmtpServer();
    srv = await startTestServer({
      database: db.url,
      overrides: {
        metrics: { token: TOKEN },
        delivery: { outbox_dir: mkdtempSync(join(tmpdir(), 'oidc-sspr-outbox-')), email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
        sspr: { enabled_for: 'all', methods: ['email'] },
      },
    });
  });
  after(async () => { await srv?.close(); await smtp?.close(); await db?.drop(); });

  async function scrape(): Promise<string> {
    const res = await fetch(`${srv.issuer}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(res.status, 200);
    return res.text();
  }
  /** Sum of every series of a metric whose labels contain all of `labels`. */
  function total(text: string, metric: string, labels: string[]): number {
    return text.split('\n')
      .filter((l) => l.startsWith(`${metric}{`) && labels.every((x) => l.includes(x)))
      .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
  }
  async function codeFor(to: string, since: number): Promise<string> {
    await waitFor(() => smtp.received.slice(since).some((m) => m.to.includes(to) && CODE_RUN.test(m.text)), 15_000);
    return smtp.received.slice(since).find((m) => m.to.includes(to))!.text.match(CODE_RUN)![0];
  }

  it('counts registrations, codes sent and resets by step, method and result', async () => {
    const before = await scrape();
    const user = await seedUser(srv.app, { login: 'pia' });
    const rp = await relyingParty(srv.issuer);
    const browser = new Browser();
    let page: Page & { redirectedTo?: string } = await signIn(browser, (await rp.start(browser)).page, 'pia', user.password);
    page = await browser.submit(page, { method: 'email' });
    let since = smtp.received.length;
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'email')]: 'pia.private@example.net' });
    page = await browser.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: await codeFor('pia.private@example.net', since) });
    page = await consentIfAsked(browser, await browser.submit(page, {}, { actionPart: '/finish' }));
    assert.ok(page.redirectedTo?.startsWith(rp.redirectUri));

    const fresh = new Browser();
    page = await fresh.get(new URL(link((await rp.start(fresh)).page.html, 'forgot-password'), srv.issuer).toString());
    page = await fresh.submit(page, { [inputByAutocomplete(page.html, 'username')]: 'pia' });
    page = await fresh.submit(page, { method: 'email' });
    since = smtp.received.length;
    page = await fresh.submit(page, { target: 'pia.private@example.net' });
    page = await fresh.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: await codeFor('pia.private@example.net', since) });
    const names = [...page.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
    page = await fresh.submit(page, { [names[0]]: 'lilac harbour motor 7719', [names[1]]: 'lilac harbour motor 7719' });
    assert.match(page.url, /reset=done/);

    const after = await scrape();
    const moved = (metric: string, labels: string[]) => total(after, metric, labels) - total(before, metric, labels);
    assert.equal(moved('oidc_sspr_registrations_total', ['step="completed"', 'result="success"']), 1);
    assert.ok(moved('oidc_sspr_registrations_total', ['step="method_verified"', 'method="email"']) >= 1);
    assert.equal(moved('oidc_sspr_resets_total', ['step="completed"', 'result="success"']), 1);
    assert.ok(moved('oidc_sspr_codes_sent_total', ['flow="reset"']) >= 1, 'reset codes are counted');
    assert.ok(moved('oidc_sspr_sign_ins_total', ['result="succeeded"']) >= 1);
  });
});
