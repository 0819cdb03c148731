import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { SQLITE_BUSY_TIMEOUT_MS } from '../../src/store/db.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { migrate } from '../../src/store/migrate.ts';
import * as confirmedAtInProfiles from '../../src/store/migrations/0009-confirmed-at-in-profiles.ts';
import * as throttlesOneTree from '../../src/store/migrations/0012-throttles-one-tree.ts';
import { createThrottleStore } from '../../src/store/throttle-store.ts';
import { defineSsprModels } from '../../src/store/sspr-models.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { longestPause } from '../support/event-loop.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`store on ${dialect}`, function () {
    let db: TestDatabase;
    let store: Store;
    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      store = await openStore({ url: db.url });
    });
    after(async () => { await store?.close(); await db?.drop(); });

    it('migrates and round-trips an account', async () => {
      await store.models.Account.create({ id: 'a1', login: 'alice', email: 'a@example.org' });
      const a = await store.models.Account.findByPk('a1');
      assert.equal(a?.login, 'alice');
      assert.equal(a?.isAdmin, false);
    });
    it('runs migrations idempotently', async () => {
      const again = await openStore({ url: db.url });
      assert.equal(await again.models.Account.count(), 1);
      await again.close();
    });
    it('migration 0009 moves the legacy accounts.methods_confirmed_at into sspr_profiles, the one place that keeps it', async () => {
      const { SsprProfile } = defineSsprModels(store.sequelize);
      const when = new Date('2026-01-02T03:04:05.000Z');
      const older = new Date('2025-01-01T00:00:00.000Z');
      await store.models.Account.bulkCreate([{ id: 'c1', login: 'carol' }, { id: 'd1', login: 'dave' }]);
      // carol: only the legacy column; dave: a profile of his own, which wins over the legacy date.
      await SsprProfile.create({ accountId: 'd1', confirmedAt: when, lastResetAt: null });
      const legacy = store.dialect === 'sqlite' ? '2025-01-01 00:00:00.000 +00:00' : older.toISOString();
      await store.sequelize.query('UPDATE accounts SET methods_confirmed_at = $1 WHERE id IN ($2, $3)', { bind: [legacy, 'c1', 'd1'] });
      await confirmedAtInProfiles.up({ context: store.sequelize.getQueryInterface() });
      assert.equal((await SsprProfile.findByPk('c1'))?.confirmedAt?.toISOString(), older.toISOString());
      assert.equal((await SsprProfile.findByPk('d1'))?.confirmedAt?.toISOString(), when.toISOString());
      const [rows] = await store.sequelize.query('SELECT count(*) AS n FROM accounts WHERE methods_confirmed_at IS NOT NULL');
      assert.equal(Number((rows as Array<{ n: number | string }>)[0].n), 0);
    });
    it('migration 0012 keeps every throttle counter and block (an upgrade lifts no block); SQLite keeps them in one tree', async () => {
      const throttles = createThrottleStore(store);
      const now = new Date('2026-12-07T10:00:00.000Z');
      const hit = (key: string) => ({ key, windowEndsAt: new Date(now.getTime() + 60_000), blockEndsAt: new Date(now.getTime() + 900_000), memoryEndsAt: new Date(now.getTime() + 3_600_000), max: 5, blocksAt: 2 });
      await throttles.hit([hit('account:blocked:signin'), hit('ip:203.0.113.0:signin')], now);
      await throttles.hit([hit('account:blocked:signin')], now); // the second hit blocks this key
      const before = await throttles.read(['account:blocked:signin', 'ip:203.0.113.0:signin']);
      assert.ok(before.find((c) => c.key === 'account:blocked:signin')?.blockedUntil, 'blocked before the upgrade');
      const qi = store.sequelize.getQueryInterface();
      await throttlesOneTree.down({ context: qi });
      await throttlesOneTree.up({ context: qi });
      const after = await throttles.read(['account:blocked:signin', 'ip:203.0.113.0:signin']);
      const byKey = (list: typeof before) => Object.fromEntries(list.map((c) => [c.key, { ...c, windowEndsAt: c.windowEndsAt.toISOString(), blockedUntil: c.blockedUntil?.toISOString() ?? null }]));
      assert.deepEqual(byKey(after), byKey(before));
      if (dialect === 'sqlite') {
        const [rows] = await store.sequelize.query("SELECT sql FROM sqlite_schema WHERE tbl_name = 'throttles'");
        const ddl = (rows as Array<{ sql: string | null }>).map((r) => r.sql ?? '(automatic index)');
        assert.equal(ddl.length, 1, `one tree, no index beside it: ${ddl.join(' | ')}`);
        assert.match(ddl[0]!, /WITHOUT ROWID/);
      }
    });
    it('a database migrated by an earlier version (umzug\'s table, the newest migration pending) gets only what is pending, recorded in the same table', async () => {
      const older = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      const s = await openStore({ url: older.url });
      try {
        const qi = s.sequelize.getQueryInterface();
        const [recorded] = await s.sequelize.query('SELECT name FROM schema_migrations ORDER BY name');
        const names = (recorded as Array<{ name: string }>).map((r) => r.name);
        assert.equal(names.at(-1), '0012-throttles-one-tree');
        // As umzug 3's SequelizeStorage left it: its own DDL, every migration but the newest recorded.
        await throttlesOneTree.down({ context: qi });
        await s.sequelize.query('DROP TABLE schema_migrations');
        await s.sequelize.query(dialect === 'sqlite'
          ? 'CREATE TABLE `schema_migrations` (`name` VARCHAR(255) NOT NULL UNIQUE PRIMARY KEY)'
          : 'CREATE TABLE IF NOT EXISTS "schema_migrations" ("name" VARCHAR(255) NOT NULL UNIQUE , PRIMARY KEY ("name"))');
        for (const name of names.slice(0, -1)) await s.sequelize.query('INSERT INTO schema_migrations (name) VALUES (?)', { replacements: [name] });
        assert.deepEqual(await migrate(s.sequelize), ['0012-throttles-one-tree']);
        const [after] = await s.sequelize.query('SELECT name FROM schema_migrations ORDER BY name');
        assert.deepEqual((after as Array<{ name: string }>).map((r) => r.name), names);
        assert.deepEqual(await migrate(s.sequelize), []);
        if (dialect === 'sqlite') {
          const [ddl] = await s.sequelize.query("SELECT sql FROM sqlite_schema WHERE name = 'throttles'");
          assert.match((ddl as Array<{ sql: string }>)[0]!.sql, /WITHOUT ROWID/);
        }
      } finally {
        await s.close();
        await older.drop();
      }
    });
    if (dialect === 'sqlite') {
      it('uses WAL journal mode', async () => {
        const [rows] = await store.sequelize.query('PRAGMA journal_mode');
        assert.equal((rows as Array<{ journal_mode: string }>)[0].journal_mode, 'wal');
      });
    }
  });
}

describe('SQLite connection settings', () => {
  it('applies busy_timeout and synchronous=NORMAL inside transactions too', async () => {
    const db = createSqliteDatabase();
    const store = await openStore({ url: db.url });
    try {
      const inside = await store.transaction(async (t) => {
        const [[busy]] = (await store.sequelize.query('PRAGMA busy_timeout', { transaction: t })) as [Array<Record<string, number>>, unknown];
        const [[sync]] = (await store.sequelize.query('PRAGMA synchronous', { transaction: t })) as [Array<Record<string, number>>, unknown];
        return { busy: Object.values(busy)[0], sync: Object.values(sync)[0] };
      });
      assert.equal(inside.busy, SQLITE_BUSY_TIMEOUT_MS);
      assert.equal(inside.sync, 1, 'NORMAL');
    } finally {
      await store.close();
      await db.drop();
    }
  });
});

describe('SQLite transactions inside transactions', () => {
  let db: TestDatabase;
  let store: Store;
  beforeEach(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
  });
  afterEach(async () => { await store.close(); await db.drop(); });

  it('joins the outer transaction at once (a savepoint), instead of waiting for the write lock it holds', async () => {
    const started = Date.now();
    await store.transaction(async (t) => {
      await store.models.Account.create({ id: 'outer', login: 'outer' }, { transaction: t });
      await store.transaction((inner) => store.models.Account.create({ id: 'inner', login: 'inner' }, { transaction: inner }));
    });
    assert.ok(Date.now() - started < 2000, `took ${Date.now() - started} ms`);
    assert.deepEqual((await store.models.Account.findAll({ order: [['id', 'ASC']] })).map((a) => a.id), ['inner', 'outer']);
  });

  it('rolls back only the inner work when the inner transaction fails and the outer goes on', async () => {
    await store.transaction(async (t) => {
      await store.models.Account.create({ id: 'kept', login: 'kept' }, { transaction: t });
      await assert.rejects(store.transaction(async (inner) => {
        await store.models.Account.create({ id: 'dropped', login: 'dropped' }, { transaction: inner });
        throw new Error('inner failure');
      }), /inner failure/);
    });
    assert.deepEqual((await store.models.Account.findAll()).map((a) => a.id), ['kept']);
  });

  it('rolls back the inner work with the outer transaction', async () => {
    await assert.rejects(store.transaction(async (t) => {
      await store.transaction((inner) => store.models.Account.create({ id: 'inner', login: 'inner' }, { transaction: inner }));
      await store.models.Account.create({ id: 'outer', login: 'outer' }, { transaction: t });
      throw new Error('outer failure');
    }), /outer failure/);
    assert.equal(await store.models.Account.count(), 0);
  });
});

describe('SQLite write lock held by another process (the CLI)', () => {
  it('waits for it without blocking the event loop for more than a moment, then writes', async () => {
    const db = createSqliteDatabase();
    const store = await openStore({ url: db.url });
    const file = db.url.slice('sqlite:'.length);
    // Another process takes the write lock and keeps it for 1.5 s.
    const holder = spawn(process.execPath, ['-e', `
      const { DatabaseSync } = require('node:sqlite');
      const d = new DatabaseSync(${JSON.stringify(file)});
      d.exec('BEGIN IMMEDIATE');
      console.log('locked');
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1500);
      d.exec('COMMIT');
    `], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve()));
      const started = performance.now();
      const { pauseMs: longestGap } = await longestPause(() => store.models.Account.create({ id: 'after-lock', login: 'after-lock' }), 10);
      assert.ok(performance.now() - started >= 1000, 'the write waited for the other process');
      assert.ok(longestGap < 600, `the event loop stalled for ${Math.round(longestGap)} ms`);
      assert.equal(await store.models.Account.count({ where: { id: 'after-lock' } }), 1);
    } finally {
      holder.kill();
      await store.close();
      await db.drop();
    }
  });
});
