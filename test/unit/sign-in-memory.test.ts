import assert from 'node:assert/strict';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import { createSequelizeAdapter } from '../../src/provider/adapter.ts';
import { SignInMemory } from '../../src/provider/sign-in-memory.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { fastSql } from '../../src/store/fast-sql.ts';
import { TestClock } from '../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';

/**
 * On SQLite a sign-in in progress keeps its login page's interaction and its authorization code in
 * memory (src/provider/sign-in-memory.ts); every other step, and all of it on PostgreSQL, is in the database. Checked against the
 * database itself: which rows exist, and that a finished interaction never comes back from a row.
 */
const onLogin = (extra: Record<string, unknown> = {}): AdapterPayload => ({ kind: 'Interaction', prompt: { name: 'login', reasons: ['no_session'], details: {} }, params: { client_id: 'app' }, ...extra });
const onRegistration = (): AdapterPayload => ({ kind: 'Interaction', prompt: { name: 'registration', reasons: ['recovery_methods_missing'], details: {} }, params: { client_id: 'app' } });
const HOUR = 3600;

describe('a sign-in in progress (the login page, the code): in memory on SQLite, in the database otherwise', () => {
  let db: TestDatabase;
  let store: Store;
  const clock = new TestClock();

  const rowsOf = async (id: string) =>
    (await fastSql(store.sequelize).all<{ id: string }>('SELECT id FROM oidc_payloads WHERE model = $1 AND id = $2', ['Interaction', id])).length;
  const interactions = (capacity = 3): Adapter => new (createSequelizeAdapter(store, clock, { signInsInMemory: capacity }))('Interaction');

  beforeEach(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
  });
  afterEach(async () => {
    await store.close();
    await db.drop();
  });

  it('a login page is kept in memory: no row is written, read or deleted; it is found until finished', async () => {
    const adapter = interactions();
    await adapter.upsert('i-1', onLogin(), HOUR);
    assert.equal(await rowsOf('i-1'), 0, 'no row for an interaction on the login page');
    assert.deepEqual((await adapter.find('i-1'))?.prompt, onLogin().prompt);
    await adapter.upsert('i-1', onLogin({ result: { login: { accountId: 'a-1' } } }), HOUR);
    assert.deepEqual((await adapter.find('i-1'))?.result, { login: { accountId: 'a-1' } }, 'the newest save is what is found');
    await adapter.destroy('i-1');
    assert.equal(await adapter.find('i-1'), undefined);
  });

  it('each find returns a payload of its own: a change to one is not a save', async () => {
    const adapter = interactions();
    await adapter.upsert('i-1', onLogin(), HOUR);
    const first = await adapter.find('i-1');
    (first!.params as Record<string, unknown>).client_id = 'changed';
    assert.equal(((await adapter.find('i-1'))!.params as Record<string, unknown>).client_id, 'app');
  });

  it('a step past the login prompt (registration) is written to the database, and read from there', async () => {
    const adapter = interactions();
    await adapter.upsert('i-2', onRegistration(), HOUR);
    assert.equal(await rowsOf('i-2'), 1);
    // A second server process on the same file (a restart) finds it.
    const afterRestart = interactions();
    assert.equal(((await afterRestart.find('i-2'))!.prompt as { name: string }).name, 'registration');
    await afterRestart.destroy('i-2');
    assert.equal(await rowsOf('i-2'), 0);
  });

  it('an interaction past its lifetime is not found', async () => {
    const adapter = interactions();
    await adapter.upsert('i-3', onLogin(), 60);
    clock.advance('61s');
    assert.equal(await adapter.find('i-3'), undefined);
  });

  it('past its capacity the oldest are written to the database, never dropped: a flood of sign-in starts loses no bystander', async () => {
    const adapter = interactions(3);
    await adapter.upsert('bystander', onLogin(), HOUR);
    for (let i = 0; i < 10; i++) await adapter.upsert(`flood-${i}`, onLogin(), HOUR);
    assert.equal(await rowsOf('bystander'), 1, 'the oldest went to the database');
    assert.ok(await adapter.find('bystander'), 'and is found there');
    assert.ok(await adapter.find('flood-9'));
    assert.equal(await rowsOf('flood-9'), 0, 'the newest are still in memory alone');
  });

  it('a finished interaction that also had a row (spilled, then saved again in memory) is deleted there too: it never comes back', async () => {
    const adapter = interactions(1);
    await adapter.upsert('parked', onLogin(), HOUR);
    await adapter.upsert('other', onLogin(), HOUR); // spills 'parked'
    assert.equal(await rowsOf('parked'), 1);
    assert.ok(await adapter.find('parked'));
    // Its login result saved in memory again (the password POST), then the resume finishes it.
    await adapter.upsert('parked', onLogin({ result: { login: { accountId: 'a-1' } } }), HOUR);
    await adapter.destroy('parked');
    assert.equal(await rowsOf('parked'), 0, 'the row from the spill is gone');
    assert.equal(await adapter.find('parked'), undefined, 'a finished interaction cannot be resumed again from its old row');
  });

  it('a row saved before a restart and finished after it is deleted', async () => {
    await interactions().upsert('before-restart', onRegistration(), HOUR);
    const adapter = interactions();
    assert.ok(await adapter.find('before-restart'));
    await adapter.upsert('before-restart', onLogin(), HOUR);
    await adapter.destroy('before-restart');
    assert.equal(await rowsOf('before-restart'), 0);
    assert.equal(await adapter.find('before-restart'), undefined);
  });

  it('an authorization code is kept in memory: used once, then found as used (a replay is seen); a revoked grant takes it along', async () => {
    const codes = new (createSequelizeAdapter(store, clock, { signInsInMemory: 3 }))('AuthorizationCode');
    await codes.upsert('c-1', { kind: 'AuthorizationCode', grantId: 'g-1', accountId: 'a-1' } as AdapterPayload, 60);
    await codes.upsert('c-2', { kind: 'AuthorizationCode', grantId: 'g-2', accountId: 'a-1' } as AdapterPayload, 60);
    assert.equal((await fastSql(store.sequelize).all('SELECT id FROM oidc_payloads WHERE model = $1', ['AuthorizationCode'])).length, 0);
    assert.equal((await codes.find('c-1'))?.consumed, undefined);
    await codes.consume('c-1');
    assert.ok((await codes.find('c-1'))?.consumed, 'a used code is found as used');
    await codes.revokeByGrantId('g-2');
    assert.equal(await codes.find('c-2'), undefined);
    clock.advance('61s');
    assert.equal(await codes.find('c-1'), undefined, 'and expires with its 60 seconds');
  });

  it('a used code spilled to the database stays used there', async () => {
    const codes = new (createSequelizeAdapter(store, clock, { signInsInMemory: 1 }))('AuthorizationCode');
    await codes.upsert('used', { kind: 'AuthorizationCode', grantId: 'g-1' } as AdapterPayload, 60);
    await codes.consume('used');
    await codes.upsert('newer', { kind: 'AuthorizationCode', grantId: 'g-1' } as AdapterPayload, 60); // spills 'used'
    const [row] = await fastSql(store.sequelize).all<{ consumed_at: unknown }>('SELECT consumed_at FROM oidc_payloads WHERE model = $1 AND id = $2', ['AuthorizationCode', 'used']);
    assert.ok(row?.consumed_at, 'the row records the use');
    assert.ok((await codes.find('used'))?.consumed, 'and a replay is still seen');
  });

  it('saved again while its older copy is being written to the database: finishing it still deletes that row', async () => {
    const written: string[] = [];
    let slow = true;
    const memory = new SignInMemory(1, () => clock.now().getTime(), async (id) => {
      if (slow) { slow = false; await new Promise((r) => setTimeout(r, 20)); }
      written.push(id);
    });
    await memory.set('a', '{"v":1}', HOUR);
    const spilling = memory.set('b', '{"v":1}', HOUR); // spills 'a', slowly
    await new Promise((r) => setTimeout(r, 5));
    await memory.set('a', '{"v":2}', HOUR); // the password POST saves 'a' again meanwhile
    await spilling;
    assert.ok(written.includes('a'));
    assert.equal(memory.finish('a'), true, "the row the spill wrote must be deleted when 'a' is finished");
  });

  it('other models are never kept in memory', async () => {
    const sessions = new (createSequelizeAdapter(store, clock, { signInsInMemory: 3 }))('Session');
    await sessions.upsert('s-1', { kind: 'Session', uid: 'u-1', accountId: 'a-1', prompt: { name: 'login' } } as AdapterPayload, HOUR);
    assert.equal((await fastSql(store.sequelize).all('SELECT id FROM oidc_payloads WHERE model = $1', ['Session'])).length, 1);
  });
});

describe('interactions on PostgreSQL: always in the database (several instances share them)', function () {
  let db: TestDatabase | undefined;
  let store: Store;
  before(async function () {
    if (!(await postgresAvailable())) this.skip();
    db = await createPostgresDatabase('imem');
    store = await openStore({ url: db.url });
  });
  after(async () => {
    await store?.close();
    await db?.drop();
  });

  it('a login page is written to the database, where another instance finds it', async () => {
    const clock = new TestClock();
    const one = new (createSequelizeAdapter(store, clock, { signInsInMemory: 3 }))('Interaction');
    await one.upsert('pg-1', onLogin(), HOUR);
    const other = new (createSequelizeAdapter(store, clock, { signInsInMemory: 3 }))('Interaction');
    assert.ok(await other.find('pg-1'));
  });
});
