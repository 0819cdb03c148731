import assert from 'node:assert/strict';
import { QueryTypes } from 'sequelize';
import type { Adapter } from 'oidc-provider';
import { createSequelizeAdapter, purgeExpiredProviderState } from '../../src/provider/adapter.ts';
import { createSequelizeDirectory, type SequelizeDirectory } from '../../src/store/account-directory.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { revokeAccountState } from '../../src/store/revoke.ts';
import { createPasswordHasher } from '../../src/sspr/password-hash.ts';
import { TestClock } from '../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { TEST_HASHING } from '../support/server.ts';

/**
 * The hot statements written as plain SQL (issue 7): the login look-up served by the
 * `lower(login)` / `lower(email)` expression indexes (checked on the plan of the statement the
 * directory really runs), and the provider adapter reading and writing rows exactly as the models do.
 */

const ACCOUNTS = 2000;

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`hot paths on ${dialect}`, function () {
    let db: TestDatabase;
    let store: Store;
    let directory: SequelizeDirectory;
    const clock = new TestClock(Date.UTC(2026, 10, 25, 12, 0, 0, 123));
    let statements: string[] = [];

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      store = await openStore({ url: db.url, onQuery: (sql) => statements.push(sql.replace(/^Executing \([^)]*\): /, '')) });
      directory = createSequelizeDirectory(store, createPasswordHasher(TEST_HASHING), clock);
      const now = clock.now();
      await store.models.Account.bulkCreate(Array.from({ length: ACCOUNTS }, (_, i) => ({
        id: `acc-${i}`, login: `user${i}`, email: `User${i}@Example.org`, passwordChangedAt: now,
      })));
      await store.models.Account.bulkCreate([
        { id: 'bob', login: 'bob', email: 'bob@example.org', isAdmin: true },
        // Her email is Bob's login: Bob's login must win.
        { id: 'carol', login: 'carol', email: 'BOB' },
        { id: 'd1', login: 'dave', email: 'shared@example.org' },
        { id: 'd2', login: 'dora', email: 'shared@example.org' },
      ]);
      await store.models.Group.bulkCreate([{ id: 'g1', name: 'staff' }, { id: 'g2', name: 'Admins' }]);
      await store.models.Membership.bulkCreate([{ groupId: 'g1', accountId: 'bob' }, { groupId: 'g2', accountId: 'bob' }]);
      // Statistics as a database in use would have them.
      await store.sequelize.query(dialect === 'sqlite' ? 'ANALYZE' : 'ANALYZE accounts');
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });

    describe('account look-up by login or email', () => {
      it('is served by the lower(login) and lower(email) indexes, not a table scan', async () => {
        statements = [];
        await directory.findByIdentifier('User77@example.org');
        const sql = statements.find((s) => /FROM accounts/.test(s));
        assert.ok(sql, `the look-up statement was logged:\n${statements.join('\n')}`);
        let plan: string;
        if (dialect === 'sqlite') {
          const rows = await store.sequelize.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, { bind: ['user77@example.org'], type: QueryTypes.SELECT });
          plan = rows.map((r) => r.detail).join('\n');
          assert.doesNotMatch(plan, /SCAN a\b(?! USING)/, plan);
        } else {
          // Seq scans priced out: the plan shows whether the indexes can serve this statement at all.
          plan = await store.sequelize.transaction(async (t) => {
            await store.sequelize.query('SET LOCAL enable_seqscan = off', { transaction: t });
            const rows = await store.sequelize.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, { bind: ['user77@example.org'], type: QueryTypes.SELECT, transaction: t });
            return rows.map((r) => r['QUERY PLAN']).join('\n');
          });
          assert.doesNotMatch(plan, /Seq Scan on accounts/, plan);
        }
        assert.match(plan, /accounts_login_lower/, plan);
        assert.match(plan, /accounts_email_lower/, plan);
      });

      it('finds by login or email in any case, login first, ambiguous email never', async () => {
        assert.equal((await directory.findByIdentifier('  USER5 '))?.id, 'acc-5');
        assert.equal((await directory.findByIdentifier('user5@EXAMPLE.org'))?.id, 'acc-5');
        assert.equal((await directory.findByIdentifier('bob'))?.id, 'bob');
        assert.equal(await directory.findByIdentifier('shared@example.org'), null);
        assert.equal(await directory.findByIdentifier('nobody'), null);
      });

      it('returns the account with its groups and flags in one statement', async () => {
        statements = [];
        const bob = await directory.findById('bob');
        assert.equal(statements.length, 1, statements.join('\n'));
        assert.deepEqual([...(bob?.groups ?? [])].sort(), ['Admins', 'staff']);
        assert.equal(bob?.isAdmin, true);
        assert.equal(bob?.disabled, false);
        const plain = await directory.findById('acc-3');
        assert.deepEqual(plain?.groups, []);
        assert.equal(plain?.isAdmin, false);
        assert.equal(plain?.passwordChangedAt?.getTime(), clock.now().getTime());
        const found = await directory.findRowAndAccount('acc-3');
        const viaModel = (await store.models.Account.findByPk('acc-3'))!.get({ plain: true });
        assert.deepEqual(found?.row, viaModel, 'the row as the model reads it');
        assert.deepEqual((await directory.listAdmins()).map((a) => a.id), ['bob']);
      });

      it('checks the password against the row as it is now (one read), so a just-disabled account is refused', async () => {
        const hasher = createPasswordHasher(TEST_HASHING);
        await store.models.Account.update({ passwordHash: await hasher.hash('a good password 42') }, { where: { id: 'acc-9' } });
        const account = await directory.findByIdentifier('user9');
        statements = [];
        assert.equal(await directory.verifyPassword(account!.id, 'a good password 42'), true);
        assert.equal(statements.length, 1, `one read of the hash:\n${statements.join('\n')}`);
        await store.models.Account.update({ disabled: true }, { where: { id: 'acc-9' } });
        assert.equal(await directory.verifyPassword(account!.id, 'a good password 42'), false, 'disabled after the look-up');
        await store.models.Account.update({ disabled: false }, { where: { id: 'acc-9' } });
      });
    });

    describe('provider adapter', () => {
      let Token: Adapter;
      let Grant: Adapter;
      let Code: Adapter;
      before(() => {
        const AdapterClass = createSequelizeAdapter(store, clock);
        Token = new AdapterClass('AccessToken');
        Grant = new AdapterClass('Grant');
        Code = new AdapterClass('AuthorizationCode');
      });

      it('looks rows up by uid, user code, grant and account through the partial indexes', async () => {
        const plans: Record<string, string> = {};
        for (const column of ['uid', 'user_code', 'grant_id', 'account_id']) {
          const sql = `SELECT payload FROM oidc_payloads WHERE model = $1 AND ${column} = $2`;
          if (dialect === 'sqlite') {
            const rows = await store.sequelize.query<{ detail: string }>(`EXPLAIN QUERY PLAN ${sql}`, { bind: ['Session', 'x'], type: QueryTypes.SELECT });
            plans[column] = rows.map((r) => r.detail).join('\n');
          } else {
            plans[column] = await store.sequelize.transaction(async (t) => {
              await store.sequelize.query('SET LOCAL enable_seqscan = off', { transaction: t });
              const rows = await store.sequelize.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`, { bind: ['Session', 'x'], type: QueryTypes.SELECT, transaction: t });
              return rows.map((r) => r['QUERY PLAN']).join('\n');
            });
          }
          assert.match(plans[column]!, new RegExp(`oidc_payloads_${column}_set`), plans[column]);
        }
      });

      it('writes rows exactly as the model does, and reads them back', async () => {
        await Token.upsert('t1', { accountId: 'acc-1', grantId: 'gr1', uid: 'u1', userCode: 'UC-1', iat: 1 }, 60);
        const row = (await store.models.OidcPayload.findOne({ where: { model: 'AccessToken', id: 't1' } }))!;
        assert.equal(row.accountId, null, 'a token is found through its grant, not indexed by account');
        assert.equal(row.grantId, 'gr1');
        await Grant.upsert('gr1', { accountId: 'acc-1' }, 60);
        assert.equal((await store.models.OidcPayload.findOne({ where: { model: 'Grant', id: 'gr1' } }))!.accountId, 'acc-1');
        await Grant.destroy('gr1');
        assert.equal(row.expiresAt?.getTime(), clock.now().getTime() + 60_000);
        if (dialect === 'sqlite') {
          const [raw] = await store.sequelize.query<{ expires_at: string }>("SELECT expires_at FROM oidc_payloads WHERE id = 't1'", { type: QueryTypes.SELECT });
          await store.models.OidcPayload.upsert({ model: 'Probe', id: 'p', payload: '{}', expiresAt: new Date(clock.now().getTime() + 60_000) });
          const [model] = await store.sequelize.query<{ expires_at: string }>("SELECT expires_at FROM oidc_payloads WHERE id = 'p'", { type: QueryTypes.SELECT });
          assert.equal(raw.expires_at, model.expires_at, 'the same date text as Sequelize stores');
          await store.models.OidcPayload.destroy({ where: { model: 'Probe' } });
        }
        assert.deepEqual(await Token.find('t1'), { accountId: 'acc-1', grantId: 'gr1', uid: 'u1', userCode: 'UC-1', iat: 1 });
        // Only sessions are looked up by uid (oidc-provider's Session.findByUid): other models keep it in the payload only.
        assert.equal(await Token.findByUid('u1'), undefined);
        const Session = new (createSequelizeAdapter(store, clock))('Session');
        await Session.upsert('s1', { accountId: 'acc-1', uid: 'u1', iat: 1 }, 60);
        assert.equal((await Session.findByUid('u1'))?.iat, 1);
        await Session.upsert('s1', { accountId: 'acc-1', iat: 2 }, 60);
        assert.equal(await Session.findByUid('u1'), undefined);
        await Session.destroy('s1');
        assert.equal((await Token.findByUserCode('UC-1'))?.iat, 1);
        // An upsert replaces the row.
        await Token.upsert('t1', { accountId: 'acc-1', grantId: 'gr1', iat: 2 }, 0);
        assert.equal((await Token.find('t1'))?.iat, 2);
        assert.equal(await Token.findByUserCode('UC-1'), undefined);
      });

      it('ignores expired rows, ids with a NUL, and other models', async () => {
        await Token.upsert('t2', { iat: 3 }, 10);
        assert.ok(await Token.find('t2'));
        assert.equal(await Grant.find('t2'), undefined);
        assert.equal(await Token.find('t2\u0000'), undefined);
        clock.advance('11s');
        assert.equal(await Token.find('t2'), undefined);
      });

      it('marks a consumed code and forgets destroyed rows', async () => {
        await Code.upsert('c1', { iat: 4 }, 60);
        await Code.consume('c1');
        assert.equal((await Code.find('c1'))?.consumed, Math.floor(clock.now().getTime() / 1000));
        await Code.upsert('c1', { iat: 5 }, 60);
        assert.equal((await Code.find('c1'))?.consumed, undefined, 'an upsert clears consumed');
        await Code.destroy('c1');
        assert.equal(await Code.find('c1'), undefined);
      });

      it('revokes by grant, and its rows go with the account and the purge', async () => {
        await Grant.upsert('gr9', { accountId: 'acc-2' }, 600);
        await Token.upsert('t9', { accountId: 'acc-2', grantId: 'gr9' }, 600);
        await Token.upsert('t10', { grantId: 'gr9' }, 600);
        await Token.revokeByGrantId('gr9');
        assert.equal(await Token.find('t9'), undefined);
        assert.ok(await Grant.find('gr9'), 'only the adapter model is revoked');

        await Token.upsert('t11', { grantId: 'gr9' }, 600);
        assert.equal(await revokeAccountState(store, 'acc-2'), 2);
        assert.equal(await Grant.find('gr9'), undefined);
        assert.equal(await Token.find('t11'), undefined, 'a token without accountId goes with its grant');

        await Token.upsert('t12', {}, 5);
        await Token.upsert('t13', {}, 3600);
        clock.advance('10s');
        assert.ok((await purgeExpiredProviderState(store, clock)) >= 1);
        assert.equal(await store.models.OidcPayload.count({ where: { id: 't12' } }), 0);
        assert.ok(await Token.find('t13'));
      });

      it('purges thousands of expired rows past chunk boundaries and keeps every live one (SQLite: no expiry index)', async () => {
        if (dialect === 'sqlite') {
          const indexes = await store.sequelize.query<{ name: string }>('PRAGMA index_list(oidc_payloads)', { type: QueryTypes.SELECT });
          assert.ok(!indexes.some((i) => i.name === 'oidc_payloads_expires_at'), 'no page per save for an index only the purge reads');
        }
        // Interleaved so expired and live rows share every chunk of the walk, 2 500 in all.
        for (let i = 0; i < 2500; i++) await Token.upsert(`bulk${i}`, { iat: i }, i % 3 === 0 ? 3600 : 5);
        clock.advance('10s');
        const live = Math.ceil(2500 / 3);
        assert.ok((await purgeExpiredProviderState(store, clock)) >= 2500 - live);
        const left = await store.sequelize.query<{ id: string }>("SELECT id FROM oidc_payloads WHERE id LIKE 'bulk%'", { type: QueryTypes.SELECT });
        assert.equal(left.length, live);
        assert.ok(left.every((r) => Number(r.id.slice(4)) % 3 === 0));
      });
    });
  });
}
