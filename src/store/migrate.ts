import { QueryTypes, type Sequelize } from 'sequelize';
import * as initial from './migrations/0001-initial.ts';
import * as ssprProfiles from './migrations/0002-sspr-profiles.ts';
import * as methodsWithoutAccountFk from './migrations/0003-methods-without-account-fk.ts';
import * as lowerIndexes from './migrations/0004-lower-indexes.ts';
import * as partialPayloadIndexes from './migrations/0005-partial-payload-indexes.ts';
import * as credentialsEpoch from './migrations/0006-credentials-epoch.ts';
import * as throttleStrikes from './migrations/0007-throttle-strikes.ts';
import * as accessPasses from './migrations/0008-access-passes.ts';
import * as confirmedAtInProfiles from './migrations/0009-confirmed-at-in-profiles.ts';
import * as passkeys from './migrations/0010-passkeys.ts';
import * as payloadExpiryWithoutIndex from './migrations/0011-payload-expiry-without-index.ts';
import * as throttlesOneTree from './migrations/0012-throttles-one-tree.ts';

/** Migrations in order; listed here (not globbed) so the built package finds them too. */
const MIGRATIONS = [
  { name: '0001-initial', ...initial },
  { name: '0002-sspr-profiles', ...ssprProfiles },
  { name: '0003-methods-without-account-fk', ...methodsWithoutAccountFk },
  { name: '0004-lower-indexes', ...lowerIndexes },
  { name: '0005-partial-payload-indexes', ...partialPayloadIndexes },
  { name: '0006-credentials-epoch', ...credentialsEpoch },
  { name: '0007-throttle-strikes', ...throttleStrikes },
  { name: '0008-access-passes', ...accessPasses },
  { name: '0009-confirmed-at-in-profiles', ...confirmedAtInProfiles },
  { name: '0010-passkeys', ...passkeys },
  { name: '0011-payload-expiry-without-index', ...payloadExpiryWithoutIndex },
  { name: '0012-throttles-one-tree', ...throttlesOneTree },
];

const MIGRATIONS_TABLE = 'schema_migrations';

/**
 * The applied migrations' names, in the table umzug's SequelizeStorage kept them in before (same
 * name, same column, same DDL), so a database migrated by an earlier version goes on from where it
 * is. Our own few lines instead of umzug: a server that migrated at start (every fresh install's
 * first start, every upgrade) kept umzug and its CLI's dependencies loaded for its whole life
 * (≈ 5 MiB of heap that every full garbage collection marks, ≈ 15 MiB resident).
 */
async function appliedMigrations(sequelize: Sequelize): Promise<Set<string> | null> {
  try {
    const rows = await sequelize.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`, { type: QueryTypes.SELECT });
    return new Set(rows.map((r) => r.name));
  } catch {
    return null; // no table yet: a new database
  }
}

/** Runs the pending migrations in order, recording each as soon as it has run; their names. */
async function runPending(sequelize: Sequelize): Promise<string[]> {
  await sequelize.query(`CREATE TABLE IF NOT EXISTS ${MIGRATIONS_TABLE} (name VARCHAR(255) NOT NULL UNIQUE PRIMARY KEY)`);
  const applied = (await appliedMigrations(sequelize)) ?? new Set<string>();
  const context = sequelize.getQueryInterface();
  const ran: string[] = [];
  for (const m of MIGRATIONS) {
    if (applied.has(m.name)) continue;
    await m.up({ context });
    await sequelize.query(`INSERT INTO ${MIGRATIONS_TABLE} (name) VALUES (?)`, { replacements: [m.name] });
    ran.push(m.name);
  }
  return ran;
}

/** Brings the schema up to date. Safe to run from several instances at once on PostgreSQL. */
export async function migrate(sequelize: Sequelize): Promise<string[]> {
  if (await upToDate(sequelize)) return [];
  if (sequelize.getDialect() !== 'postgres') return runPending(sequelize);
  // An advisory lock keeps two instances starting together from racing on CREATE TABLE.
  return sequelize.transaction(async (t) => {
    await sequelize.query('SELECT pg_advisory_xact_lock(4711001)', { transaction: t });
    return runPending(sequelize);
  });
}

/** Whether every migration is recorded as applied (a missing table means a new database). */
async function upToDate(sequelize: Sequelize): Promise<boolean> {
  const applied = await appliedMigrations(sequelize);
  return applied !== null && MIGRATIONS.every((m) => applied.has(m.name));
}
