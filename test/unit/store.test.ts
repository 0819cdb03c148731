import assert from 'node:assert/strict';
import { openStore, type Store } from '../../src/store/index.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

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
      assert.equal(inside.busy, 5000);
      assert.equal(inside.sync, 1, 'NORMAL');
    } finally {
      await store.close();
      await db.drop();
    }
  });
});
