import assert from 'node:assert/strict';
import { createThrottle, keysFor, type Throttle, type ThrottleRule } from '../../../src/sspr/throttle.ts';
import type { ThrottleStore, UnitOfWork } from '../../../src/sspr/ports.ts';
import { openStore } from '../../../src/store/index.ts';
import { createThrottleStore } from '../../../src/store/throttle-store.ts';
import { TestClock } from '../../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable } from '../../support/db.ts';
import { emptyState, memoryThrottleStore, memoryUnitOfWork } from '../../support/memory-ports.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;

describe('sspr/throttle keysFor', () => {
  it('gives identifier, IP and identifier+IP keys with a normalised identifier', () => {
    assert.deepEqual(keysFor({ identifier: '  Alice@Example.ORG ', ip: '203.0.113.7' }),
      ['id:alice@example.org', 'ip:203.0.113.7', 'id:alice@example.org|ip:203.0.113.7']);
  });
  it('counts an IPv6 client by its /64, and an IPv4-mapped address as the IPv4 one', () => {
    assert.deepEqual(keysFor({ identifier: 'a', ip: '2001:db8:1:2:aaaa::1' })[1], 'ip:2001:db8:1:2::/64');
    assert.deepEqual(keysFor({ identifier: 'a', ip: '2001:DB8:1:2:ffff:ffff:ffff:ffff' })[1], 'ip:2001:db8:1:2::/64');
    assert.deepEqual(keysFor({ identifier: 'a', ip: '::ffff:192.0.2.1' })[1], 'ip:192.0.2.1');
    assert.deepEqual(keysFor({ identifier: 'a', ip: '::1' })[1], 'ip:0:0:0:0::/64');
  });
  it('normalises Unicode so look-alike spellings share one counter', () => {
    assert.deepEqual(keysFor({ identifier: 'Jose\u0301', ip: '::1' }), keysFor({ identifier: 'jos\u00e9', ip: '::1' }));
  });
  it('keeps keys within the column for absurdly long identifiers', () => {
    const [id, , idip] = keysFor({ identifier: 'x'.repeat(5000), ip: 'ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255' });
    assert.ok(id.length < 100 && idip.length < 200);
    assert.notEqual(id, keysFor({ identifier: 'x'.repeat(5001), ip: '::1' })[0]);
  });
});

/** A store under test: ours on each database, and the in-memory one the flow tests run on. */
interface Backend {
  store: UnitOfWork;
  throttles: ThrottleStore;
  keys(): Promise<string[]>;
  wipe(): Promise<void>;
  close(): Promise<void>;
}

async function backend(dialect: 'sqlite' | 'postgres' | 'memory'): Promise<Backend> {
  if (dialect === 'memory') {
    const state = emptyState();
    return {
      store: memoryUnitOfWork(state),
      throttles: memoryThrottleStore(state),
      keys: async () => [...state.throttles.keys()].sort(),
      wipe: async () => state.throttles.clear(),
      close: async () => undefined,
    };
  }
  const db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
  const store = await openStore({ url: db.url });
  return {
    store,
    throttles: createThrottleStore(store),
    keys: async () => (await store.models.Throttle.findAll({ order: [['key', 'ASC']] })).map((r) => r.key),
    wipe: async () => { await store.models.Throttle.destroy({ where: {} }); },
    close: async () => { await store.close(); await db.drop(); },
  };
}

// The same rules on every store: the in-memory one must count, block and escalate as the SQL does.
for (const dialect of ['sqlite', 'postgres', 'memory'] as const) {
  describe(`sspr/throttle on ${dialect}`, function () {
    let b: Backend | undefined;
    let store: UnitOfWork;
    let clock: TestClock;
    let throttle: Throttle;
    let n = 0;
    let key: string;
    const rule: ThrottleRule = { max: 5, windowMs: 10 * MIN, blockMs: 24 * HOUR };

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      b = await backend(dialect);
      store = b.store;
    });
    after(async () => { await b?.close(); });
    beforeEach(() => {
      clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
      throttle = createThrottle({ store: b!.throttles, clock });
      key = `id:user-${dialect}-${++n}`;
    });

    it('allows max hits, blocks the next one and says so once', async () => {
      for (let i = 1; i <= 5; i++) {
        const s = await throttle.hit(key, rule);
        assert.deepEqual([s.allowed, s.count, s.blockedUntil, s.justBlocked], [true, i, null, false]);
      }
      const sixth = await throttle.hit(key, rule);
      assert.equal(sixth.allowed, false);
      assert.equal(sixth.justBlocked, true);
      assert.equal(sixth.blockedUntil?.toISOString(), '2026-03-02T10:00:00.000Z');
      clock.advance('1h');
      const seventh = await throttle.hit(key, rule);
      assert.deepEqual([seventh.allowed, seventh.count, seventh.justBlocked], [false, 7, false]);
      assert.equal(seventh.blockedUntil?.toISOString(), '2026-03-02T10:00:00.000Z', 'hits during a block never extend it');
    });

    it('the block outlives the window and ends at blockedUntil', async () => {
      for (let i = 0; i < 6; i++) await throttle.hit(key, rule);
      clock.advance('11m'); // past the window, still inside the block
      assert.equal((await throttle.hit(key, rule)).allowed, false);
      clock.advance(24 * HOUR - 11 * MIN - 1);
      assert.equal((await throttle.peek(key, rule)).allowed, false);
      clock.advance(1);
      const after = await throttle.hit(key, rule);
      assert.deepEqual([after.allowed, after.count, after.blockedUntil, after.justBlocked], [true, 1, null, false]);
    });

    it('starts a new window when the old one ends without a block', async () => {
      for (let i = 0; i < 5; i++) await throttle.hit(key, rule);
      clock.advance('10m');
      const s = await throttle.hit(key, rule);
      assert.deepEqual([s.allowed, s.count], [true, 1]);
      assert.equal(s.resetsAt?.toISOString(), '2026-03-01T10:20:00.000Z');
    });

    it('blockMs 0 is a plain fixed window', async () => {
      const plain = { max: 2, windowMs: 10 * MIN, blockMs: 0 };
      await throttle.hit(key, plain);
      await throttle.hit(key, plain);
      const third = await throttle.hit(key, plain);
      assert.deepEqual([third.allowed, third.justBlocked, third.blockedUntil], [false, false, null]);
      clock.advance('10m');
      assert.equal((await throttle.hit(key, plain)).allowed, true);
    });

    it('peek reads without counting', async () => {
      assert.deepEqual(await throttle.peek(key, rule), { allowed: true, count: 0, blockedUntil: null, justBlocked: false, resetsAt: null });
      await throttle.hit(key, rule);
      await throttle.peek(key, rule);
      await throttle.peek(key, rule);
      assert.equal((await throttle.peek(key, rule)).count, 1);
      assert.equal((await throttle.hit(key, rule)).count, 2);
    });

    it('reset and resetPrefix lift a block, and the prefix is taken literally', async () => {
      const [id, ip, idip] = keysFor({ identifier: `a_b-${n}`, ip: '198.51.100.1' });
      const lookalike = `id:axb-${n}`; // would match if "_" were a LIKE wildcard
      for (const k of [id, ip, idip, lookalike]) for (let i = 0; i < 6; i++) await throttle.hit(k, rule);
      await throttle.reset(ip);
      assert.equal((await throttle.peek(ip, rule)).allowed, true);
      assert.equal(await throttle.resetPrefix(`id:a_b-${n}`), 2);
      assert.equal(await throttle.resetPrefix(`id:a_b-${n}|`), 0, 'already gone with its identifier prefix');
      assert.equal((await throttle.peek(id, rule)).allowed, true);
      assert.equal((await throttle.peek(idip, rule)).allowed, true);
      assert.equal((await throttle.peek(lookalike, rule)).allowed, false);
      assert.equal(await throttle.resetPrefix('id:%'), 0);
    });

    it('takes part in the caller\'s transaction', async () => {
      await assert.rejects(store.transaction(async (t) => {
        await throttle.hit(key, rule, t);
        throw new Error('roll back');
      }), /roll back/);
      assert.equal((await throttle.peek(key, rule)).count, 0);
      await store.transaction(async (t) => { await throttle.hit(key, rule, t); });
      assert.equal((await throttle.peek(key, rule)).count, 1);
    });

    it('counts 20 parallel hits exactly and blocks exactly once', async () => {
      const results = await Promise.all(Array.from({ length: 20 }, () => throttle.hit(key, rule)));
      assert.deepEqual(results.map((r) => r.count).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
      assert.equal(results.filter((r) => r.allowed).length, 5);
      assert.equal(results.filter((r) => r.justBlocked).length, 1);
      assert.equal((await throttle.peek(key, rule)).count, 20);
    });

    it('purges counters whose window and block are over', async () => {
      await b!.wipe();
      await throttle.hit('a', rule);
      for (let i = 0; i < 6; i++) await throttle.hit('b', rule);
      clock.advance('11m');
      assert.equal(await throttle.purgeExpired(), 1);
      assert.deepEqual(await b!.keys(), ['b']);
    });

    it('an escalating rule allows one guess after each block, and each further block lasts twice as long', async () => {
      const esc: ThrottleRule = { max: 3, windowMs: HOUR, blockMs: 15 * MIN, escalate: true };
      const allowed: boolean[] = [];
      for (let i = 0; i < 4; i++) allowed.push((await throttle.hit(key, esc)).allowed);
      assert.deepEqual(allowed, [true, true, true, false]);
      let blocks = 0;
      let until = (await throttle.peek(key, esc)).blockedUntil as Date;
      const lengths: number[] = [];
      let guesses = 3;
      // A year of an attacker trying again the moment each block ends.
      while (until.getTime() - clock.now().getTime() < 365 * 24 * HOUR && blocks < 30) {
        lengths.push(until.getTime() - clock.now().getTime());
        clock.advance(until.getTime() - clock.now().getTime());
        const probe = await throttle.hit(key, esc);
        assert.equal(probe.allowed, true, 'one checked guess after the block');
        guesses++;
        const next = await throttle.hit(key, esc);
        assert.deepEqual([next.allowed, next.justBlocked], [false, true]);
        until = next.blockedUntil as Date;
        blocks++;
      }
      assert.deepEqual(lengths.slice(0, 4), [15 * MIN, 30 * MIN, 60 * MIN, 120 * MIN]);
      assert.ok(guesses < 25, `${guesses} guesses in a year`);
    });

    it('hitMany counts several keys with their own rules in one statement, in the order given', async () => {
      const tight: ThrottleRule = { max: 1, windowMs: HOUR, blockMs: 15 * MIN, escalate: true };
      const loose: ThrottleRule = { max: 3, windowMs: HOUR, blockMs: 0 };
      const items = [{ key: `${key}/a`, rule: tight }, { key: `${key}/b`, rule: loose }];
      const first = await throttle.hitMany(items);
      assert.deepEqual(first.map((x) => [x.allowed, x.count]), [[true, 1], [true, 1]]);
      const second = await throttle.hitMany(items);
      assert.deepEqual(second.map((x) => [x.allowed, x.count, x.justBlocked]), [[false, 2, true], [true, 2, false]]);
      assert.equal(second[0].blockedUntil?.toISOString(), '2026-03-01T10:15:00.000Z');
      assert.equal(second[1].blockedUntil, null);
      await assert.rejects(throttle.hitMany([items[0], items[0]]), RangeError);
    });

    it('refund gives back a right answer\'s hit; clear and liftTouching forget keys', async () => {
      for (let i = 0; i < 3; i++) await throttle.hit(key, rule);
      await throttle.refund([key]);
      assert.equal((await throttle.peek(key, rule)).count, 2);
      const other = `${key}|ip:192.0.2.9`;
      await throttle.hit(other, rule);
      assert.deepEqual(await throttle.liftTouching(['ip:192.0.2.9']), [other]);
      await throttle.clear([key]);
      assert.equal((await throttle.peek(key, rule)).count, 0);
    });

    it('refuses a nonsensical rule', async () => {
      await assert.rejects(throttle.hit(key, { max: 0, windowMs: MIN, blockMs: 0 }), RangeError);
      await assert.rejects(throttle.hit(key, { max: 1, windowMs: 0, blockMs: 0 }), RangeError);
    });
  });
}
