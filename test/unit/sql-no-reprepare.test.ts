import assert from 'node:assert/strict';
import { constants } from 'node:sqlite';
import { signIn, userinfo, refresh, type Target } from '../../bench/load.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import type { Database } from '../../src/store/sqlite-driver.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { aroundDriverCalls } from '../support/driver-calls.ts';
import { startHarnessServer, type TestServer } from '../support/server.ts';

/**
 * A regression guard of issue 19, not timed: once warm, the paths that run all day — a sign-in,
 * userinfo, a refresh and the delivery worker's poll — compile no SQL on SQLite. Every statement is
 * prepared once and run again as it is.
 *
 * Why it can fail: SQLite compiles a prepared statement again whenever a parameter it planned by
 * value is bound anew. A bound `LIMIT $2` is planned by its value (SQLite 3.47 and later), so the
 * delivery poll's SELECT was parsed and planned twice a second, cache-cold under load (perf: the
 * poll's largest cost); a `LIKE $1` does the same. Statements sent through Sequelize's model calls are
 * prepared on every run, too.
 *
 * How it sees it: SQLite asks an authorizer (`setAuthorizer`) while it compiles a statement, and only
 * then, so every call during the measured requests is a statement compiled again.
 */
describe('warm requests compile no SQL (SQLite: prepared once, never again)', function () {
  const compiled: string[] = [];
  let counting = false;
  /** The connections statements ran on (fast-sql's kept one and any other), as they are used. */
  const connections = new Set<Database>();
  const h = {} as { db: TestDatabase; store: Store; srv: TestServer; target: Target; password: string; restore: () => void };

  before(async () => {
    h.restore = aroundDriverCalls((connection, call) => {
      connections.add(connection);
      return call();
    });
    h.db = createSqliteDatabase();
    h.store = await openStore({ url: h.db.url });
    Object.assign(h, await startHarnessServer({ database: h.db.url, store: h.store }));
  });
  after(async () => {
    h.restore?.();
    await h.srv?.close();
    await h.store?.close();
    await h.db?.drop();
  });

  /** One of each: a sign-in with offline access, userinfo and a refresh with its tokens, a delivery poll. */
  async function roundOfEach(): Promise<void> {
    const { target, password, srv } = h;
    const tokens = await signIn(target, 'loadtest', password, { offline: true });
    await signIn(target, 'loadtest', password);
    await userinfo(target, tokens.access_token);
    await refresh(target, tokens.refresh_token!);
    await srv.app.sspr.delivery.processDue();
    await srv.app.sspr.delivery.processDue();
  }

  it('a sign-in, userinfo, a refresh and the delivery poll, once warm, compile nothing', async () => {
    await roundOfEach();
    // Setting an authorizer expires every prepared statement: the next round compiles them once more.
    for (const d of connections) {
      if (!d.handle.isOpen) continue;
      assert.equal(typeof d.handle.setAuthorizer, 'function', 'node:sqlite has no setAuthorizer: run the tests with the Node the project installs (npm test)');
      d.handle.setAuthorizer((action, first, second) => {
        if (counting) compiled.push(`action ${action} (${first ?? ''} ${second ?? ''})`.trim());
        return constants.SQLITE_OK;
      });
    }
    await roundOfEach();
    counting = true;
    try {
      await roundOfEach();
      await roundOfEach();
    } finally {
      counting = false;
    }
    assert.deepEqual(compiled, [], `SQL compiled again on warm paths (SQLite's authorizer actions while compiling):\n  ${compiled.slice(0, 40).join('\n  ')}`);
  });
});
