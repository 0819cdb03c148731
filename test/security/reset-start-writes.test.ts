/**
 * Issue 16, item 8: every `GET /reset` wrote a flow row, with no limit, so anyone could grow the
 * database at will. Showing the first page of a reset (stand-alone or inside an interaction) now
 * writes nothing; the flow is stored when the identifier is posted, which is counted per IP and per
 * identifier. The form's CSRF token still binds the post to the browser's flow cookie.
 */
import assert from 'node:assert/strict';
import { Browser, findForm, inputByAutocomplete, link } from '../support/browser.ts';
import { createSqliteDatabase } from '../support/db.ts';
import { relyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { openStore, type Store } from '../../src/store/index.ts';

const WRITE = /^\s*(INSERT|UPDATE|DELETE|REPLACE)\b/i;
const TABLES = ['accounts', 'groups', 'memberships', 'oidc_payloads', 'recovery_methods', 'one_time_codes', 'flows', 'throttles', 'audit_events', 'deliveries', 'settings'];

describe('Issue 16 · GET /reset writes nothing until the identifier is posted', function () {
  const db = createSqliteDatabase();
  let store: Store;
  let srv: TestServer;
  let statements: string[] = [];
  before(async () => {
    store = await openStore({ url: db.url, onQuery: (sql) => statements.push(sql.replace(/^Executing \([^)]*\):\s*/, '')) });
    srv = await startTestServer({ database: db.url, store });
  });
  after(async () => { await srv?.close(); await store?.close(); await db.drop(); });

  async function rowCounts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const t of TABLES) {
      const [[row]] = await store.sequelize.query(`SELECT COUNT(*) AS n FROM ${t}`) as [Array<{ n: number }>, unknown];
      out[t] = Number(row.n);
    }
    return out;
  }

  /** Runs `fn` and returns the writes it made: statements and changed row counts. */
  async function writesDuring(fn: () => Promise<void>): Promise<{ statements: string[]; before: Record<string, number>; after: Record<string, number> }> {
    const before = await rowCounts();
    statements = [];
    await fn();
    const writes = statements.filter((s) => WRITE.test(s));
    return { statements: writes, before, after: await rowCounts() };
  }

  it('50 GETs of /reset and of an interaction\'s reset page write no row (and no statement that writes)', async () => {
    // An interaction to reset from (its row is written by /auth, before the count starts).
    const rp = await relyingParty(srv.issuer);
    const withInteraction = new Browser();
    const { page } = await rp.start(withInteraction);
    const interactionReset = new URL(link(page.html, 'forgot-password'), srv.issuer).toString();
    assert.match(interactionReset, /\/interaction\/[\w-]+\/reset$/);

    const seen = await writesDuring(async () => {
      for (let i = 0; i < 25; i++) {
        const standalone = await new Browser().get(`${srv.issuer}/reset`);
        assert.equal(standalone.status, 200);
        assert.ok(inputByAutocomplete(standalone.html, 'username'));
        const inside = await withInteraction.get(interactionReset);
        assert.equal(inside.status, 200);
      }
    });
    assert.deepEqual(seen.statements, [], 'no INSERT, UPDATE or DELETE');
    assert.deepEqual(seen.after, seen.before, 'no table changed');
  });

  it('the flow is stored when the identifier is posted, and the post still needs the CSRF token of the browser\'s own flow cookie', async () => {
    const b = new Browser();
    const first = await b.get(`${srv.issuer}/reset`);
    const form = findForm(first.html);
    const post = (fields: Record<string, string>, browser = b) =>
      browser.follow(new URL(form.action, first.url).toString(), { body: new URLSearchParams(fields).toString() });
    const login = inputByAutocomplete(first.html, 'username');

    // Refused and nothing stored: no token, a forged token, and the right token without the cookie.
    const refusals = await writesDuring(async () => {
      assert.equal((await post({ [login]: 'someone' })).status, 403);
      assert.equal((await post({ ...form.hidden, csrf: 'x'.repeat(43), [login]: 'someone' })).status, 403);
      const stranger = await post({ ...form.hidden, [login]: 'someone' }, new Browser());
      assert.match(stranger.url, /\/reset(\?expired=1)?$/, 'without the flow cookie: back to the start');
    });
    assert.equal(refusals.after.flows, refusals.before.flows, 'no flow stored by a refused post');

    const ok = await writesDuring(async () => {
      const next = await post({ ...form.hidden, [login]: 'someone' });
      assert.match(next.url, /\/reset\/method$/);
    });
    assert.equal(ok.after.flows, ok.before.flows + 1, 'the identifier step stored the flow');
  });
});
