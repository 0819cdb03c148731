import type { QueryInterface } from 'sequelize';

/**
 * SQLite: `throttles` as one B-tree (WITHOUT ROWID, keyed by `key`) and without the
 * `window_ends_at` index. Every sign-in counts two keys before the password check and clears them
 * after it, so each of its two commits wrote a page of all three trees (the rowid table, the key's
 * automatic index and the window index): six WAL frames a sign-in, now two. The rows are small (a
 * key and four numbers), the case WITHOUT ROWID is made for. The window index served only the hourly
 * purge, which now scans the table: it holds only live counters. PostgreSQL keeps its table.
 */
const COLUMNS = 'key, count, window_ends_at, blocked_until, strikes';

/** Copies `throttles` into a new table of the given shape, in one transaction; SQLite only. */
async function rebuild(qi: QueryInterface, oneTree: boolean): Promise<void> {
  if (qi.sequelize.getDialect() !== 'sqlite') return;
  await qi.sequelize.transaction(async (transaction) => {
    const run = (sql: string) => qi.sequelize.query(sql, { transaction });
    await run(`CREATE TABLE throttles_rebuilt (
      key VARCHAR(400) NOT NULL PRIMARY KEY, count INTEGER NOT NULL DEFAULT 0, window_ends_at DATETIME NOT NULL,
      blocked_until DATETIME, strikes INTEGER NOT NULL DEFAULT 0)${oneTree ? ' WITHOUT ROWID' : ''}`);
    await run(`INSERT INTO throttles_rebuilt (${COLUMNS}) SELECT ${COLUMNS} FROM throttles`);
    await run('DROP TABLE throttles');
    await run('ALTER TABLE throttles_rebuilt RENAME TO throttles');
    if (!oneTree) await run('CREATE INDEX throttles_window_ends_at ON throttles (window_ends_at)');
  });
}

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await rebuild(qi, true);
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await rebuild(qi, false);
}
