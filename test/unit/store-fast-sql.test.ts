import assert from 'node:assert/strict';
import { fastSql } from '../../src/store/fast-sql.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`driver-level statements (fast-sql) on ${dialect}`, function () {
    let db: TestDatabase;
    let store: Store;
    const seen: string[] = [];

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      store = await openStore({ url: db.url, onQuery: (sql) => seen.push(sql) });
    });
    after(async () => { await store?.close(); await db?.drop(); });

    it('reads and writes with $n parameters, and reports each statement to the query log', async () => {
      const sql = fastSql(store.sequelize);
      seen.length = 0;
      const changed = await sql.run('INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)', ['k1', 'v1', new Date().toISOString()]);
      assert.equal(changed, 1);
      const rows = await sql.all<{ value: string }>('SELECT value FROM settings WHERE key = $1', ['k1']);
      assert.deepEqual(rows.map((r) => r.value), ['v1']);
      assert.equal(seen.filter((s) => /settings/.test(s)).length, 2);
    });

    it('answers many statements at once without exhausting the pool or the handle', async () => {
      const sql = fastSql(store.sequelize);
      const results = await Promise.all(Array.from({ length: 40 }, () => sql.all<{ value: string }>('SELECT value FROM settings WHERE key = $1', ['k1'])));
      assert.ok(results.every((r) => r.length === 1));
    });

    it('rejects a statement that cannot be prepared, without crashing, and goes on working', async () => {
      const sql = fastSql(store.sequelize);
      await assert.rejects(sql.all('SELECT nope FROM no_such_table WHERE x = $1', [1]));
      const rows = await sql.all<{ value: string }>('SELECT value FROM settings WHERE key = $1', ['k1']);
      assert.equal(rows.length, 1);
    });

    it('lets the store close with statements cached, and a new store reads what was written', async () => {
      await store.close();
      store = await openStore({ url: db.url });
      const rows = await fastSql(store.sequelize).all<{ value: string }>('SELECT value FROM settings WHERE key = $1', ['k1']);
      assert.deepEqual(rows.map((r) => r.value), ['v1']);
    });
  });
}
