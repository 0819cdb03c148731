import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/** True when the local PostgreSQL answers; tests that need it skip with a printed reason otherwise. */
export async function postgresAvailable(adminUrl = PG_ADMIN_URL): Promise<boolean> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

export interface TestDatabase { url: string; drop(): Promise<void> }

/** A fresh PostgreSQL database for one test run (runs side by side never share one); the benchmark uses it too. */
export async function createPostgresDatabase(prefix = 'test', adminUrl = PG_ADMIN_URL): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: adminUrl });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A SQLite file in a fresh temporary folder. */
export function createSqliteDatabase(): TestDatabase & { dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-'));
  return {
    dir,
    url: `sqlite:${join(dir, 'test.sqlite')}`,
    async drop() { rmSync(dir, { recursive: true, force: true }); },
  };
}
