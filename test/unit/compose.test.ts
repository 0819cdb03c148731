import assert from 'node:assert/strict';
import pino from 'pino';
import { composeSspr } from '../../src/compose.ts';
import { configSchema } from '../../src/config/schema.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { TEST_HASHING, TEST_SECRETS } from '../support/server.ts';

describe('composeSspr: the one composition root', () => {
  let db: TestDatabase;
  let store: Store;
  before(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
  });
  after(async () => { await store?.close(); await db?.drop(); });

  const configWith = (encryptionKeys: string[]) => configSchema.parse({
    issuer: 'http://127.0.0.1:1', database: db.url, demo: false, password_hashing: TEST_HASHING,
    secrets: { cookie_keys: TEST_SECRETS.cookie_keys, encryption_keys: encryptionKeys },
  });

  it('wires one set of services: the flows, the admin service and the routes share the same directory, audit and delivery', async () => {
    const c = await composeSspr({ config: configWith(TEST_SECRETS.encryption_keys), store, log: pino({ level: 'silent' }) });
    assert.equal(c.sspr.directory, c.directory);
    assert.equal(c.sspr.audit, c.audit);
    assert.equal(c.sspr.delivery, c.delivery);
    const user = await c.admin.addUser({ login: 'ann', password: 'a long enough password for the policy 42' }, 'test');
    assert.equal((await c.directory.findById(user.id))?.login, 'ann', 'the default directory is our own accounts');
    assert.equal((await c.audit.query({ activity: 'admin.user_added' })).length, 1);
  });

  it('without encryption keys (the CLI on PostgreSQL) it still builds, and fails only when something must be sealed, naming the key', async () => {
    const c = await composeSspr({ config: configWith([]), store, log: pino({ level: 'silent' }) });
    assert.ok((await c.admin.listUsers()).length >= 1);
    assert.throws(() => c.sspr.secretBox.seal('x'), /secrets\.encryption_keys/);
    // Not mistaken for a promise by an `await` somewhere.
    assert.equal((c.sspr.secretBox as unknown as { then?: unknown }).then, undefined);
  });
});
