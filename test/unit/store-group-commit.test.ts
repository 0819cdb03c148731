import assert from 'node:assert/strict';
import { createHook } from 'node:async_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fastSql } from '../../src/store/fast-sql.ts';
import { openStore } from '../../src/store/index.ts';
import { Database } from '../../src/store/sqlite-driver.ts';
import { COMMIT_WITH_REQUEST_MS, commitBeforeReturning, commitWithThisRequest, GroupCommitFailed, undoIfRolledBack } from '../../src/store/sqlite-group-commit.ts';

/**
 * SQLite's group commit on the kept connection (src/store/sqlite-group-commit.ts): writes share one
 * COMMIT, and what they promise holds — committed before the request returns, never making another
 * connection wait, and a write lost with its group fails the request that made it.
 */
describe('SQLite group commit', () => {
  let dir: string;
  let file: string;
  const open: Database[] = [];

  const connect = () => new Promise<Database>((resolve, reject) => {
    const d: Database = new Database(file, (err) => (err ? reject(err) : resolve(d)));
    open.push(d);
  });
  /** Another process's view: a connection of its own, outside this driver. */
  const outsider = () => new DatabaseSync(file, { readOnly: true });
  const countRows = (table = 't') => {
    const other = outsider();
    try {
      return Number((other.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n);
    } finally {
      other.close();
    }
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'sspr-group-'));
    file = join(dir, 'db.sqlite');
    const setup = new DatabaseSync(file);
    setup.exec(`PRAGMA journal_mode = WAL;
      CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT);
      CREATE TABLE poison (id INTEGER PRIMARY KEY);
      CREATE TRIGGER poison_rolls_back BEFORE INSERT ON poison BEGIN SELECT RAISE(ROLLBACK, 'rolled back on purpose'); END;`);
    setup.close();
  });
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes of one turn of the event loop share one transaction; the connection itself sees them at once', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['a']);
    await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['b']);
    assert.equal(kept.hasOpenGroup, true);
    assert.equal((await kept.cachedAll<{ n: number }>('SELECT count(*) AS n FROM t', []))[0]!.n, 2);
    assert.equal(countRows(), 0, 'not yet committed: another connection sees nothing');
    await new Promise((r) => setImmediate(r));
    assert.equal(kept.hasOpenGroup, false, 'committed at the latest on the next check phase');
    assert.equal(countRows(), 2);
  });

  it('reads of one turn share one read transaction; another process\'s commit is seen by the next turn, and a write never acts on the older snapshot', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    const count = async () => Number((await kept.cachedAll<{ n: number }>('SELECT count(*) AS n FROM t', []))[0]!.n);
    const writer = new DatabaseSync(file); // another process: a connection outside this driver
    try {
      assert.equal(await count(), 0);
      assert.equal(kept.handle.isTransaction, false, 'the first read of a turn runs alone');
      assert.equal(await count(), 0);
      assert.equal(kept.handle.isTransaction, true, 'the second read opened the shared read transaction');
      writer.exec("INSERT INTO t (name) VALUES ('by another process')");
      assert.equal(await count(), 0, 'the same turn reads the same snapshot');
      // A write in that turn: it must see (and keep) the other process's row, not fail as stale.
      await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['ours']);
      assert.equal(await count(), 2, 'the write ended the read snapshot first: it acts on the current database');
      await new Promise((r) => setImmediate(r));
      assert.equal(kept.handle.isTransaction, false, 'ended at the latest on the next check phase');
      writer.exec("INSERT INTO t (name) VALUES ('again')");
      assert.equal(await count(), 3, 'a later turn sees what another process committed in between');
      assert.equal(countRows(), 3);
      await new Promise((r) => setImmediate(r));
      // A writer in another process never waits for the shared read transaction (WAL readers do not block).
      await count();
      writer.exec("INSERT INTO t (name) VALUES ('while we read')");
      assert.equal(countRows(), 4);
    } finally {
      writer.close();
    }
  });

  it('a transaction of another connection of this process that commits mid-turn ends the shared read snapshot: the next read sees it', async () => {
    // The attack: a reset commits on its own connection while this turn's read snapshot, opened
    // during that transaction, is still open — a sign-in read later in the same turn must not see
    // the account as it was before the reset.
    const kept = await connect();
    kept.enableGroupCommit();
    const other = await connect();
    const exec = (db: Database, sql: string) => new Promise<void>((resolve, reject) => { db.exec(sql, (err) => (err ? reject(err) : resolve())); });
    const count = async () => Number((await kept.cachedAll<{ n: number }>('SELECT count(*) AS n FROM t', []))[0]!.n);
    await exec(other, 'BEGIN IMMEDIATE');
    await exec(other, "INSERT INTO t (name) VALUES ('the reset')");
    assert.equal(await count(), 0, 'during the other transaction: not visible yet');
    assert.equal(await count(), 0);
    assert.equal(kept.handle.isTransaction, true, 'the shared read snapshot is open');
    await exec(other, 'COMMIT');
    assert.equal(await count(), 1, 'committed by another connection of this process: the next read sees it, in the same turn');
  });

  it('a request returns only after its writes are committed (another process sees them)', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    let seenByOthersAtReturn = -1;
    let undone = false;
    await commitBeforeReturning(() => kept.commitGroup(), async () => {
      await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['a']);
      undoIfRolledBack(() => { undone = true; });
    }).then(() => {
      seenByOthersAtReturn = countRows();
    });
    assert.equal(seenByOthersAtReturn, 1);
    assert.equal(undone, false, 'what a committed request kept in memory stays');
  });

  it('a request whose write was rolled back with its group fails, though its own statement succeeded', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    let releaseA!: () => void;
    const aWrote = new Promise<void>((r) => { releaseA = r; });
    let bMayGo!: () => void;
    const bGo = new Promise<void>((r) => { bMayGo = r; });
    // A writes, then waits (no I/O: still the same turn, still the same group) until B's write
    // rolls the shared transaction back.
    // What A kept outside the database (an interaction in memory) goes with its writes.
    const keptInMemory = new Set<string>();
    const a = commitBeforeReturning(() => kept.commitGroup(), async () => {
      await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['from A']);
      keptInMemory.add('from A');
      undoIfRolledBack(() => keptInMemory.delete('from A'));
      bMayGo();
      await aWrote;
    });
    const b = commitBeforeReturning(() => kept.commitGroup(), async () => {
      await bGo;
      await kept.cachedRun('INSERT INTO poison (id) VALUES ($1)', [1]).catch(() => undefined);
      releaseA();
    });
    await assert.rejects(a, GroupCommitFailed);
    // B was told by its own statement's error; failing it again at its end is the safe side.
    await assert.rejects(b, GroupCommitFailed);
    assert.equal(countRows(), 0, "A's row went with the group");
    assert.equal(keptInMemory.size, 0, 'and so did what A kept in memory');
    await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['later']);
    await new Promise((r) => setImmediate(r));
    assert.equal(countRows(), 1, 'the connection goes on with a new group');
  });

  it('a guess counted before a slow check commits with its request: seen by this process at once, no other process can write meanwhile, committed before the request returns', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    const otherProcess = new DatabaseSync(file);
    otherProcess.exec('PRAGMA busy_timeout = 0');
    let duringTheCheck: { seenHere: number; seenElsewhere: number; otherCouldCount: boolean } | undefined;
    await commitBeforeReturning(() => kept.commitGroup(), async () => {
      commitWithThisRequest();
      await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['counted guess']);
      // The password hash: real waiting on the event loop, several turns.
      await new Promise((r) => setTimeout(r, 60));
      let otherCouldCount = true;
      try {
        otherProcess.exec("INSERT INTO t (name) VALUES ('guess elsewhere')");
      } catch {
        otherCouldCount = false;
      }
      const [here] = await kept.cachedAll<{ n: number }>('SELECT count(*) AS n FROM t', []);
      duringTheCheck = { seenHere: Number(here!.n), seenElsewhere: countRows(), otherCouldCount };
      await kept.cachedRun('DELETE FROM t WHERE name = $1', ['nothing']);
    });
    otherProcess.close();
    assert.deepEqual(duringTheCheck, { seenHere: 1, seenElsewhere: 0, otherCouldCount: false },
      'the count was there for this process, and held the write lock: no other process could count past it');
    assert.equal(countRows(), 1, 'committed before the request returned');
  });

  it('a group held for its request commits by itself after at most COMMIT_WITH_REQUEST_MS; a request that did not ask commits on the next turn', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    let seenAfterTheBound = -1;
    await commitBeforeReturning(() => kept.commitGroup(), async () => {
      commitWithThisRequest();
      await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['held']);
      await new Promise((r) => setTimeout(r, COMMIT_WITH_REQUEST_MS + 100));
      seenAfterTheBound = countRows();
    });
    assert.equal(seenAfterTheBound, 1);
    let seenNextTurn = -1;
    await commitBeforeReturning(() => kept.commitGroup(), async () => {
      await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['plain']);
      await new Promise((r) => setTimeout(r, 20));
      seenNextTurn = countRows();
    });
    assert.equal(seenNextTurn, 2);
  });

  it('a held group that committed with its request leaves no timer to wake the event loop later', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    // Every timer callback that runs from here on (async_hooks: the timers themselves, no stand-in).
    const timers = new Set<number>();
    let fired = 0;
    const hook = createHook({
      init(id, type) { if (type === 'Timeout') timers.add(id); },
      before(id) { if (timers.has(id)) fired += 1; },
    }).enable();
    try {
      for (let i = 0; i < 5; i++) {
        await commitBeforeReturning(() => kept.commitGroup(), async () => {
          commitWithThisRequest();
          await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', [`guess ${i}`]);
        });
      }
      assert.equal(countRows(), 5, 'each committed at its request\'s end');
      const firedBefore = fired;
      await new Promise((r) => setTimeout(r, COMMIT_WITH_REQUEST_MS + 100));
      // The wait's own timer is the one callback allowed.
      assert.equal(fired - firedBefore, 1, 'a committed group\'s deadline still fired');
    } finally {
      hook.disable();
    }
  });

  it("another connection's transaction does not wait for the group: the group commits first, in order", async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    const tx = await connect();
    await kept.cachedRun('INSERT INTO t (id, name) VALUES ($1, $2)', [1, 'group']);
    // As Sequelize runs a transaction: BEGIN IMMEDIATE on its own connection, through the write gate.
    const begun = new Promise<void>((resolve, reject) => tx.run('BEGIN IMMEDIATE', (err) => (err ? reject(err) : resolve())));
    assert.equal(kept.hasOpenGroup, false, 'committed right there, not after a turn of the event loop');
    await begun;
    await tx.cachedRun('UPDATE t SET name = $1 WHERE id = $2', ['transaction', 1]);
    await new Promise<void>((resolve, reject) => tx.run('COMMIT', (err) => (err ? reject(err) : resolve())));
    const other = outsider();
    assert.equal((other.prepare('SELECT name FROM t WHERE id = 1').get() as { name: string }).name, 'transaction');
    other.close();
  });

  it('a store groups nothing until its owner takes on committing per request (an embedding host keeps autocommit)', async () => {
    const store = await openStore({ url: `sqlite:${join(dir, 'store.sqlite')}` });
    try {
      const fast = fastSql(store.sequelize);
      const seenNow = () => {
        const other = new DatabaseSync(join(dir, 'store.sqlite'), { readOnly: true });
        try {
          return Number((other.prepare("SELECT count(*) AS n FROM settings WHERE key LIKE 'probe%'").get() as { n: number }).n);
        } finally {
          other.close();
        }
      };
      const write = (key: string) => fast.run('INSERT INTO settings (key, value, updated_at) VALUES ($1, $2, $3)', [key, 'v', new Date().toISOString()]);
      await write('probe-1');
      assert.equal(seenNow(), 1, 'committed by the statement itself');
      const perRequest = store.groupWritesPerRequest();
      let midRequest = -1;
      await perRequest(async () => {
        await write('probe-2');
        midRequest = seenNow();
      });
      assert.equal(midRequest, 1, 'inside the request the write waits for the group');
      assert.equal(seenNow(), 2, 'committed when the request returns');
    } finally {
      await store.close();
    }
  });

  it('DDL and PRAGMAs commit the group before they run; close commits what is pending', async () => {
    const kept = await connect();
    kept.enableGroupCommit();
    await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['a']);
    await new Promise<void>((resolve, reject) => kept.exec('CREATE TABLE u (id INTEGER PRIMARY KEY)', (err) => (err ? reject(err) : resolve())));
    assert.equal(countRows(), 1);
    await kept.cachedRun('INSERT INTO t (name) VALUES ($1)', ['b']);
    kept.close();
    open.splice(open.indexOf(kept), 1);
    assert.equal(countRows(), 2);
  });
});
