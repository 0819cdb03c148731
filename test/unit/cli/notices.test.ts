import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { openStore, type Store } from '../../../src/store/index.ts';

const ROOT = resolve(import.meta.dirname, '../../..');

describe('admin CLI notices (queued for the delivery worker)', function () {
  this.timeout(60_000);
  let dir: string;
  let config: string;
  let store: Store;
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['src/cli/main.ts', ...args], { cwd: ROOT, env: { ...process.env, OIDC_SSPR_CONFIG: config }, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  };
  const pending = async () => (await store.models.Delivery.findAll({ where: { status: 'pending' }, order: [['createdAt', 'ASC']] })).map((d) => ({ to: d.recipient, subject: d.subject }));

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-notices-'));
    config = join(dir, 'oidc-sspr.yaml');
    writeFileSync(config, `database: sqlite:${join(dir, 'x.sqlite')}\npassword_hashing: { memory_kib: 8192, time_cost: 1, parallelism: 1 }\n`);
    run('user', 'add', 'ann', '--admin', '--password', 'violet tugboat canyon 2931');
    run('user', 'add', 'ben', '--admin', '--password', 'violet tugboat canyon 2932');
    store = await openStore({ url: `sqlite:${join(dir, 'x.sqlite')}` });
    const ids = Object.fromEntries((await store.models.Account.findAll()).map((a) => [a.login, a.id]));
    const now = new Date();
    await store.models.RecoveryMethod.bulkCreate([
      { id: 'm1', accountId: ids.ann, type: 'email', target: 'ann.private@example.net', verifiedAt: now },
      { id: 'm2', accountId: ids.ann, type: 'sms', target: '+31612345678', verifiedAt: now },
      { id: 'm3', accountId: ids.ben, type: 'email', target: 'ben.private@example.net', verifiedAt: now },
    ]);
  });
  after(async () => { await store?.close(); rmSync(dir, { recursive: true, force: true }); });

  it('set-password tells the user on every registered channel and the other admins by email', async () => {
    run('user', 'set-password', 'ann', '--password', 'marble harbour lantern 8812');
    const queued = await pending();
    assert.deepEqual(queued.map((q) => q.to).sort(), ['+31612345678', 'ann.private@example.net', 'ben.private@example.net']);
  });

  it('methods-reset tells the channels that are being forgotten', async () => {
    await store.models.Delivery.destroy({ where: {} });
    run('user', 'methods-reset', 'ann');
    assert.deepEqual((await pending()).map((q) => q.to).sort(), ['+31612345678', 'ann.private@example.net']);
    assert.equal(await store.models.RecoveryMethod.count({ where: { type: 'email', target: 'ann.private@example.net' } }), 0);
  });
});
