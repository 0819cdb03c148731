import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { compileCacheEnv } from '../support/compile-cache.ts';
import { longestPause } from '../support/event-loop.ts';
import { SQLITE_WAL_CHECKPOINT_PAGES } from '../../src/store/db.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';

/**
 * SQLite's write-ahead log on the server's connection: SQLite's own checkpoints copy it into the
 * database file once it holds {@link SQLITE_WAL_CHECKPOINT_PAGES} pages (there is no checkpoint
 * thread: it cost ≈ 20 MiB of memory for no gain under load, src/store/sqlite-truncate-log.ts), and
 * the hourly housekeeping empties it (`truncateLog`).
 */
describe('SQLite write-ahead log: checkpoints and truncation', function () {
  let db: TestDatabase & { dir: string };
  let store: Store;
  const file = () => db.url.slice('sqlite:'.length);
  const inDatabaseFile = (marker: string) => readFileSync(file()).includes(marker);

  beforeEach(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
  });
  afterEach(async () => {
    await store?.close();
    await db?.drop();
  });

  it('the server\'s connection is set to checkpoint at the configured log length, and nothing copies the log before that', async () => {
    const commitEachRequest = store.groupWritesPerRequest();
    const marker = `only-logged-${Date.now()}`;
    await commitEachRequest(() => store.models.Setting.create({ key: 'checkpoint-probe', value: marker }));
    const [rows] = await store.sequelize.query('PRAGMA wal_autocheckpoint');
    assert.deepEqual(rows, [{ wal_autocheckpoint: SQLITE_WAL_CHECKPOINT_PAGES }]);
    assert.ok(SQLITE_WAL_CHECKPOINT_PAGES >= 1000);
    // Far below that length, the write is in the log only (no thread copies it meanwhile).
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    assert.equal(inDatabaseFile(marker), false);
  });

  it('a process whose last step is closing the store ends normally (nothing keeps it alive)', async () => {
    const storeModule = pathToFileURL(resolve(import.meta.dirname, '../../src/store/index.ts')).href;
    const child = spawn(process.execPath, ['--input-type=module', '-e', `
      const { openStore } = await import(${JSON.stringify(storeModule)});
      const store = await openStore({ url: ${JSON.stringify(db.url)} });
      const commitEachRequest = store.groupWritesPerRequest();
      await commitEachRequest(() => store.models.Setting.create({ key: 'child', value: 'x' }));
      await store.close();
      console.log('closed');
    `], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...compileCacheEnv() } });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d; });
    child.stderr!.on('data', (d: Buffer) => { out += d; });
    const code = await new Promise<number | null>((done) => child.once('exit', done));
    assert.equal(code, 0, out);
    assert.match(out, /closed/);
  });

  const walBytes = () => statSync(`${file()}-wal`).size;

  for (const mode of ['with the group commit (the server)', 'without it (the CLI, a host)'] as const) {
    describe(`truncateLog ${mode}`, () => {
      beforeEach(async () => {
        if (mode === 'with the group commit (the server)') store.groupWritesPerRequest();
        await store.models.Setting.create({ key: 'truncate-probe', value: 'x'.repeat(2000) });
        await new Promise((resolve) => setTimeout(resolve, 20));
      });

      it('empties the -wal file', async () => {
        assert.ok(walBytes() > 0, 'the write is in the log');
        assert.equal(await store.truncateLog(), true);
        assert.equal(walBytes(), 0);
      });

      it('with a reader holding an old snapshot it gives up (false) without holding the event loop', async () => {
        // Another process's reader: its snapshot needs the log, so the log cannot be emptied.
        const reader = new DatabaseSync(file());
        try {
          reader.exec('BEGIN');
          reader.prepare('SELECT count(*) FROM settings').get();
          await store.models.Setting.create({ key: 'after-the-snapshot', value: 'y' });
          await new Promise((resolve) => setTimeout(resolve, 20));
          const { result, pauseMs } = await longestPause(() => store.truncateLog());
          assert.equal(result, false);
          assert.ok(pauseMs < 100, `the event loop paused ${pauseMs.toFixed(0)} ms`);
          assert.ok(walBytes() > 0, 'the log is still there for the reader');
        } finally {
          reader.exec('COMMIT');
          reader.close();
        }
        assert.equal(await store.truncateLog(), true, 'once the reader is gone, it is emptied');
      });
    });
  }

  it('close() closes the store: it reopens cleanly', async () => {
    const commitEachRequest = store.groupWritesPerRequest();
    await commitEachRequest(() => store.models.Setting.create({ key: 'closing', value: 'x' }));
    await store.close();
    store = await openStore({ url: db.url });
  });
});
