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

async function migrator(sequelize: Sequelize) {
  // Loaded only when something is pending: umzug brings its CLI's dependencies (~15 MiB resident),
  // which a server starting on an up-to-date database would otherwise carry for its whole life.
  const { SequelizeStorage, Umzug } = await import('umzug');
  return new Umzug({
    migrations: MIGRATIONS.map((m) => ({ name: m.name, up: m.up, down: m.down })),
    context: sequelize.getQueryInterface(),
    storage: new SequelizeStorage({ sequelize, tableName: MIGRATIONS_TABLE }),
    logger: undefined,
  });
}

/** Brings the schema up to date. Safe to run from several instances at once on PostgreSQL. */
export async function migrate(sequelize: Sequelize): Promise<string[]> {
  if (await upToDate(sequelize)) return [];
  const run = async () => (await (await migrator(sequelize)).up()).map((m) => m.name);
  if (sequelize.getDialect() !== 'postgres') return run();
  // An advisory lock keeps two instances starting together from racing on CREATE TABLE.
  return sequelize.transaction(async (t) => {
    await sequelize.query('SELECT pg_advisory_xact_lock(4711001)', { transaction: t });
    return run();
  });
}

/** Whether every migration is recorded as applied (a missing table means a new database). */
async function upToDate(sequelize: Sequelize): Promise<boolean> {
  let rows: { name: string }[];
  try {
    rows = await sequelize.query<{ name: string }>(`SELECT name FROM ${MIGRATIONS_TABLE}`, { type: QueryTypes.SELECT });
  } catch {
    return false;
  }
  const applied = new Set(rows.map((r) => r.name));
  return MIGRATIONS.every((m) => applied.has(m.name));
}
