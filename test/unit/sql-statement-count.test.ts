import assert from 'node:assert/strict';
import { signIn, userinfo, refresh, type Target, type TokenSet } from '../../bench/load.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import type { Database } from '../../src/store/sqlite-driver.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { aroundDriverCalls } from '../support/driver-calls.ts';
import { startHarnessServer, type TestServer } from '../support/server.ts';

/**
 * The regression guard of issue 19, not timed: SQL statements and rows written per sign-in, per
 * userinfo and per refresh, against a real server on SQLite, pinned EXACTLY. A change that adds a
 * statement or a written row to these paths fails here, and so does one that removes some (so the
 * numbers stay true). If the change is intended, update EXPECTED below and the "SQL per request" table
 * in bench/RESULTS.md, and say in the commit why the request needs it.
 *
 * The sign-in is the bench's (bench/load.ts): GET /auth → login page → POST → /auth/:uid → code →
 * token, a first-party client, SSPR not applying, one account signing in over and over (the
 * independent harness's load: its sessions and grants pile up, and nothing may scan them).
 *
 * Rows written are SQLite's own count (`total_changes()` of the connection around each statement):
 * every row an INSERT, UPDATE (upserts included) or DELETE touched.
 */
const EXPECTED = {
  // Rows: 3 upserts (session, grant, access token), 2 throttle rows counted and the 2 deleted, 1 audit
  // event. Statements: provider 4 (the 3 upserts; the code's grant with the grant's account and the
  // session the code is bound to, read in one statement — a sign-in in progress, the login page's
  // interaction and the authorization code, is kept in memory on SQLite: src/provider/sign-in-memory.ts), login 4
  // (account by identifier, with its password hash; throttle hit on both keys; audit INSERT; throttle
  // DELETE after the success), findAccount 1 (the resume; the token endpoint's comes with the grant).
  signIn: { statements: 9, rowsWritten: 8 },
  // the access token with its grant (its credentials epoch) and the grant's account, in one statement.
  userinfo: { statements: 1, rowsWritten: 0 },
  // the refresh token with its grant and account; the old token consumed; the new access and refresh tokens.
  refresh: { statements: 4, rowsWritten: 3 },
};

/** Timers that query on their own (the delivery queue's poll, housekeeping): not per request. */
const isBackground = (sql: string) => /\bdeliveries\b|DELETE FROM `oidc_payloads` WHERE `expires_at`|PRAGMA/.test(sql);

interface Count { statements: string[]; rowsWritten: number }

describe('SQL statements and rows written per request (SQLite, exact: a regression guard)', function () {
  let db: TestDatabase;
  let store: Store;
  let srv: TestServer;
  let target: Target;
  let password: string;
  let counting = false;
  let statements: string[] = [];
  let rowsWritten = 0;
  const restore: (() => void)[] = [];

  before(async () => {
    // Rows written: SQLite's total_changes() on the connection, read around every statement the
    // driver runs (they run synchronously; none waits for the write gate in these requests).
    const totals = new WeakMap<Database, { get(): unknown }>();
    const changes = (d: Database) => {
      if (!d.handle.isOpen) return 0;
      let stmt = totals.get(d);
      if (!stmt) totals.set(d, (stmt = d.handle.prepare('SELECT total_changes() AS n')));
      return Number((stmt.get() as { n: number }).n);
    };
    restore.push(aroundDriverCalls((connection, call) => {
      if (!counting) return call();
      const before = changes(connection);
      const result = call();
      rowsWritten += changes(connection) - before;
      return result;
    }));
    db = createSqliteDatabase();
    store = await openStore({ url: db.url, onQuery: (sql) => { if (counting && !isBackground(sql)) statements.push(sql.replace(/^Executing \([^)]*\): /, '')); } });
    ({ srv, target, password } = await startHarnessServer({ database: db.url, store }));
    // The first sign-ins create what is made lazily (signing keys' use, caches, the stored language).
    await signIn(target, 'loadtest', password);
    await signIn(target, 'loadtest', password);
  });
  after(async () => {
    for (const r of restore) r();
    await srv?.close();
    await store?.close();
    await db?.drop();
  });

  async function count<T>(what: () => Promise<T>): Promise<Count & { result: T }> {
    statements = [];
    rowsWritten = 0;
    counting = true;
    try {
      const result = await what();
      return { statements, rowsWritten, result };
    } finally {
      counting = false;
    }
  }

  function check(name: keyof typeof EXPECTED, got: Count): void {
    const want = EXPECTED[name];
    const listing = got.statements.map((s, i) => `  ${i + 1}. ${s.replace(/\s+/g, ' ').slice(0, 150)}`).join('\n');
    const how = `If this change is intended, update EXPECTED.${name} in test/unit/sql-statement-count.test.ts and the table "SQL per request" in bench/RESULTS.md.`;
    assert.equal(got.statements.length, want.statements, `${name}: ${got.statements.length} SQL statements, pinned at ${want.statements}. ${how}\n${listing}`);
    assert.equal(got.rowsWritten, want.rowsWritten, `${name}: ${got.rowsWritten} rows written, pinned at ${want.rowsWritten}. ${how}\n${listing}`);
  }

  it(`sign-in: ${EXPECTED.signIn.statements} statements, ${EXPECTED.signIn.rowsWritten} rows written — the same after many sign-ins of the one account`, async () => {
    const first = await count(() => signIn(target, 'loadtest', password));
    check('signIn', first);
    // One account signing in over and over: its sessions and grants pile up. Nothing on the path may
    // grow with them (a scan or update per session or grant would show here as more statements/rows).
    for (let i = 0; i < 30; i++) await signIn(target, 'loadtest', password);
    const later = await count(() => signIn(target, 'loadtest', password));
    check('signIn', later);
    const sessions = await store.models.OidcPayload.count({ where: { model: 'Session' } });
    assert.ok(sessions >= 30, `the account holds many sessions now (${sessions})`);
  });

  describe('with tokens', () => {
    let tokens: TokenSet;
    before(async () => {
      tokens = await signIn(target, 'loadtest', password, { offline: true });
      assert.ok(tokens.refresh_token, 'offline_access gives a refresh token');
    });

    it(`userinfo: ${EXPECTED.userinfo.statements} statements, ${EXPECTED.userinfo.rowsWritten} rows written`, async () => {
      check('userinfo', await count(() => userinfo(target, tokens.access_token)));
    });

    it(`refresh: ${EXPECTED.refresh.statements} statements, ${EXPECTED.refresh.rowsWritten} rows written`, async () => {
      const got = await count(() => refresh(target, tokens.refresh_token!));
      tokens = got.result;
      check('refresh', got);
    });
  });
});
