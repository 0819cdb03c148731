import type { QueryInterface } from 'sequelize';

/**
 * Every oidc-provider write (5 to 7 per sign-in, 3 per refresh) inserted an entry into each of the
 * four look-up indexes of oidc_payloads, though most rows have no uid (only sessions and
 * interactions do), no grant_id (grants themselves, sessions) and never a user_code (no device
 * flow). Each index entry is a page written to the WAL. Partial indexes (`WHERE col IS NOT NULL`)
 * hold only the rows that have the value; the look-ups (`col = $n`) still use them, on SQLite and on
 * PostgreSQL alike, since an equality implies NOT NULL.
 */
const INDEXED = ['grant_id', 'user_code', 'uid', 'account_id'] as const;

export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  for (const column of INDEXED) {
    await qi.sequelize.query(`DROP INDEX IF EXISTS oidc_payloads_${column}`);
    await qi.sequelize.query(`CREATE INDEX IF NOT EXISTS oidc_payloads_${column}_set ON oidc_payloads (${column}) WHERE ${column} IS NOT NULL`);
  }
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  for (const column of INDEXED) {
    await qi.sequelize.query(`DROP INDEX IF EXISTS oidc_payloads_${column}_set`);
    await qi.sequelize.query(`CREATE INDEX IF NOT EXISTS oidc_payloads_${column} ON oidc_payloads (${column})`);
  }
}
