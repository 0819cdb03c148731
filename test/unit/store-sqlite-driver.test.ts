import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Database, numberedParameters, OPEN_READONLY, Statement } from '../../src/store/sqlite-driver.ts';

function call<T>(fn: (cb: (this: Statement, err: Error | null, result?: T) => void) => void): Promise<{ self: Statement; result?: T }> {
  return new Promise((resolve, reject) => fn(function (err, result) {
    if (err) reject(err);
    else resolve({ self: this, result });
  }));
}

describe('SQLite driver on node:sqlite', () => {
  let dir: string;
  let file: string;
  const open: Database[] = [];
  const connect = async (mode?: number) => {
    const db = await new Promise<Database>((resolve, reject) => {
      const d: Database = mode === undefined
        ? new Database(file, (err) => (err ? reject(err) : resolve(d)))
        : new Database(file, mode, (err) => (err ? reject(err) : resolve(d)));
    });
    open.push(db);
    return db;
  };

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'sspr-driver-'));
    file = join(dir, 'db.sqlite');
    const db = await connect();
    await call((cb) => db.exec('PRAGMA journal_mode = WAL; CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, flag INTEGER, data BLOB)', cb));
  });
  afterEach(() => {
    for (const db of open.splice(0)) db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a write as sqlite3 does: lastID and changes on `this`, booleans as 0/1, BLOBs as Buffers', async () => {
    const db = await connect();
    const { self } = await call((cb) => db.run('INSERT INTO t (name, flag, data) VALUES ($1, $2, $3)', { $1: 'a', $2: true, $3: Buffer.from('xy') }, cb));
    assert.equal(self.lastID, 1);
    assert.equal(self.changes, 1);
    const { result } = await call<Record<string, unknown>[]>((cb) => db.all('SELECT * FROM t', [], cb));
    assert.deepEqual(result, [{ id: 1, name: 'a', flag: 1, data: Buffer.from('xy') }]);
    assert.equal(Object.getPrototypeOf(result![0]), Object.prototype);
  });

  it('reports a constraint failure with sqlite3\'s code and message, and keeps the first row', async () => {
    const db = await connect();
    await call((cb) => db.run("INSERT INTO t (name) VALUES ('a')", cb));
    await assert.rejects(call((cb) => db.run("INSERT INTO t (name) VALUES ('a')", cb)),
      (err: Error & { code?: string; errno?: number }) => err.code === 'SQLITE_CONSTRAINT' && err.errno === 19
        && err.message === 'SQLITE_CONSTRAINT: UNIQUE constraint failed: t.name');
    const { result } = await call<unknown[]>((cb) => db.all('SELECT name FROM t', cb));
    assert.equal(result!.length, 1);
  });

  it('holds a write on another connection until the open transaction commits, and lets reads through', async () => {
    const tx = await connect();
    const other = await connect();
    await call((cb) => tx.run('BEGIN IMMEDIATE', cb));
    await call((cb) => tx.run("INSERT INTO t (name) VALUES ('in-tx')", cb));
    const order: string[] = [];
    const write = call((cb) => other.run("INSERT INTO t (name) VALUES ('outside')", cb)).then(() => order.push('write'));
    const cachedWrite = other.cachedRun("INSERT INTO t (name) VALUES ('cached')", {}).then(() => order.push('cached write'));
    // A read is not held: it sees the last committed state (WAL), not the open transaction's row.
    assert.deepEqual(await other.cachedAll('SELECT name FROM t', {}), []);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(order, [], 'writes wait for the transaction');
    await call((cb) => tx.run('COMMIT', cb));
    await Promise.all([write, cachedWrite]);
    assert.equal(order.length, 2);
    // Ran in the order they were asked for: the row ids say so.
    const names = (await other.cachedAll<{ name: string }>('SELECT name FROM t ORDER BY id', {})).map((r) => r.name);
    assert.deepEqual(names, ['in-tx', 'outside', 'cached']);
  });

  it('lets the next waiting transaction in after a ROLLBACK, and the rolled-back row is gone', async () => {
    const a = await connect();
    const b = await connect();
    await call((cb) => a.run('BEGIN IMMEDIATE', cb));
    await call((cb) => a.run("INSERT INTO t (name) VALUES ('rolled back')", cb));
    const second = (async () => {
      await call((cb) => b.run('BEGIN IMMEDIATE', cb));
      await call((cb) => b.run("INSERT INTO t (name) VALUES ('kept')", cb));
      await call((cb) => b.run('COMMIT', cb));
    })();
    await new Promise((r) => setTimeout(r, 20));
    await call((cb) => a.run('ROLLBACK', cb));
    await second;
    const { result } = await call<{ name: string }[]>((cb) => a.all('SELECT name FROM t', cb));
    assert.deepEqual(result!.map((r) => r.name), ['kept']);
  });

  it('opens read-only without creating a missing file, and refuses writes there', async () => {
    const missing = join(dir, 'missing.sqlite');
    await assert.rejects(new Promise((resolve, reject) => {
      const d = new Database(missing, OPEN_READONLY, (err) => (err ? reject(err) : resolve(d)));
    }), /SQLITE_CANTOPEN/);
    const ro = await connect(OPEN_READONLY);
    await assert.rejects(call((cb) => ro.run("INSERT INTO t (name) VALUES ('x')", cb)), /SQLITE_READONLY/);
  });

  it('fails a statement on a closed connection with an error, not a crash', async () => {
    const db = await connect();
    db.close();
    await assert.rejects(call((cb) => db.all('SELECT 1', cb)), /SQLITE_MISUSE/);
  });
  it('binds the hot path\'s $n parameters by number: any order, repeated, never inside a quoted string', async () => {
    assert.equal(numberedParameters("SELECT $2, '$1 stays', $1, $2"), "SELECT ?2, '$1 stays', ?1, ?2");
    const db = await connect();
    const rows = await db.cachedAll<{ a: string; b: string; c: string; d: string }>("SELECT $2 AS a, '$1' AS b, $1 AS c, $2 || 'x' AS d", ['one', 'two']);
    assert.deepEqual({ ...rows[0] }, { a: 'two', b: '$1', c: 'one', d: 'twox' });
    // The same text by name still works (its own prepared statement).
    const named = await db.cachedAll<{ a: string }>('SELECT $1 AS a', { $1: 'named' });
    assert.equal(named[0]?.a, 'named');
  });
  it('gives the hot path\'s rows as objects keyed by column, every row and every value as stored', async () => {
    const db = await connect();
    await db.cachedRun('CREATE TABLE shapes (id INTEGER PRIMARY KEY, name TEXT, data BLOB, score REAL)', []);
    await db.cachedRun('INSERT INTO shapes (id, name, data, score) VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)', [1, 'one', Buffer.from([1, 2]), 0.5, 2, null, null, 2]);
    const rows = await db.cachedAll<Record<string, unknown>>('SELECT id, name, data, score, name AS again FROM shapes ORDER BY id', []);
    assert.equal(rows.length, 2);
    assert.deepEqual(Object.keys(rows[0]!), ['id', 'name', 'data', 'score', 'again']);
    assert.deepEqual({ ...rows[0], data: [...(rows[0]!.data as Uint8Array)] }, { id: 1, name: 'one', data: [1, 2], score: 0.5, again: 'one' });
    assert.deepEqual({ ...rows[1] }, { id: 2, name: null, data: null, score: 2, again: null });
    // Two columns of one name: the last one's value, as node:sqlite's own rows have it.
    const twice = await db.cachedAll<Record<string, unknown>>('SELECT id AS x, name AS x FROM shapes WHERE id = 1', []);
    assert.deepEqual({ ...twice[0] }, { x: 'one' });
    // Another connection (a CLI's migration) adds a column: the cached `SELECT *` gets it, by name.
    const wide = await db.cachedAll<Record<string, unknown>>('SELECT * FROM shapes WHERE id = $1', [1]);
    assert.deepEqual(Object.keys(wide[0]!), ['id', 'name', 'data', 'score']);
    const other = await connect();
    await other.cachedRun('ALTER TABLE shapes ADD COLUMN added TEXT DEFAULT \'new\'', []);
    const wider = await db.cachedAll<Record<string, unknown>>('SELECT * FROM shapes WHERE id = $1', [1]);
    assert.deepEqual(Object.keys(wider[0]!), ['id', 'name', 'data', 'score', 'added']);
    assert.equal(wider[0]!.added, 'new');
    // A column named `__proto__` is an own key of its row, never the row's prototype.
    const odd = await db.cachedAll<Record<string, unknown>>('SELECT 1 AS "__proto__", 2 AS b', []);
    assert.ok(Object.hasOwn(odd[0]!, '__proto__'));
    assert.equal(Object.getOwnPropertyDescriptor(odd[0]!, '__proto__')?.value, 1);
    assert.equal(Object.getPrototypeOf(odd[0]!), Object.prototype);
    assert.equal(odd[0]!.b, 2);
  });
});
