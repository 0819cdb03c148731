import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/store/index.ts';
import { createThrottleStore } from '../../src/store/throttle-store.ts';
import { createPostgresDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

/**
 * A successful sign-in clears its counts (one DELETE of the account's and the address's rows) while
 * another sign-in of the same account counts its own (one upsert of the same two rows); a right code
 * refunds its counts (one UPDATE of them). On PostgreSQL two statements that lock the same rows in
 * opposite orders deadlock, and one fails: a 500 for a person who typed the right password (seen
 * once under the harness load); the hourly purge deletes expired rows in whatever order it finds
 * them. The attack: loops doing all four for 4 s. Without the rows locked in key order it gives
 * "deadlock detected" a few times in tens of thousands of statements (each kind of write on its
 * own); now never.
 */
describe('throttles on PostgreSQL: concurrent counts and clears of the same keys never deadlock', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let store: Store;
  before(async function () {
    if (!(await postgresAvailable())) {
      console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
      this.skip();
    }
    db = await createPostgresDatabase();
    store = await openStore({ url: db.url });
  });
  after(async () => { await store?.close(); await db?.drop(); });

  it('10 loops for 4 s counting, clearing, refunding and purging an account\'s and an address\'s keys: every statement succeeds', async () => {
    const throttles = createThrottleStore(store);
    // As a sign-in names them (account first), and the reverse: neither order may matter.
    const keys = ['signin:account:0f8e6c1e-2f0b-4a55-9a77-3b7f0c2d9e11', 'signin:ip:198.51.100.0'];
    const hit = (key: string) => {
      const now = Date.now();
      return { key, windowEndsAt: new Date(now + 60_000), blockEndsAt: new Date(now + 900_000), memoryEndsAt: new Date(now + 900_000), max: 1_000_000, blocksAt: 2_000_000 };
    };
    const failures: string[] = [];
    let statements = 0;
    const until = Date.now() + 4000;
    await Promise.all(Array.from({ length: 10 }, async (_, i) => {
      const mine = i < 5 ? keys : [...keys].reverse();
      while (Date.now() < until) {
        try {
          if (i % 5 < 2) await throttles.hit(mine.map(hit), new Date());
          else if (i % 5 === 2) await throttles.remove(mine);
          // A refund gives back a count (a code that proved right): the same two rows, written by key.
          else if (i % 5 === 3) await throttles.refund(mine, new Date());
          // The hourly purge, as if it ran an hour on: every row it finds has expired.
          else await throttles.purgeExpired(new Date(Date.now() + 3_600_000));
          statements += 1;
        } catch (err) {
          failures.push(String(err));
        }
      }
    }));
    assert.deepEqual(failures.slice(0, 3), [], `${failures.length} of ${statements + failures.length} statements failed`);
    assert.ok(statements > 1000, `only ${statements} statements ran`);
  });
});
