import type { QueryInterface } from 'sequelize';

/**
 * SQLite: no `expires_at` index on oidc_payloads. Every provider save moves the row's entry in it (a
 * sign-in saves 5 to 7 rows), so it cost a WAL page on most commits, for one reader: the hourly
 * purge, which now walks the table in rowid order in small chunks instead (adapter.ts). PostgreSQL
 * keeps the index: its purge is one statement, and its writes are not what the harness measures.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  if (qi.sequelize.getDialect() !== 'sqlite') return;
  await qi.sequelize.query('DROP INDEX IF EXISTS oidc_payloads_expires_at');
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  if (qi.sequelize.getDialect() !== 'sqlite') return;
  await qi.sequelize.query('CREATE INDEX IF NOT EXISTS oidc_payloads_expires_at ON oidc_payloads (expires_at)');
}
