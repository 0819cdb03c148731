/**
 * Databases for the benchmark: a SQLite file in a temporary folder or a fresh PostgreSQL database
 * (`bench_<random>`, dropped at the end), migrated and seeded directly through the store with N
 * accounts that all share ONE argon2id hash (hashing 100 000 passwords would take an hour).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type AccountRow, type RecoveryMethodRow } from '../src/store/index.ts';
import { createPostgresDatabase, postgresAvailable as isPostgresAvailable } from '../test/support/db.ts';

export const PG_ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface BenchDatabase { url: string; label: string; drop(): Promise<void> }

export function sqliteDatabase(): BenchDatabase {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-sspr-bench-'));
  return { url: `sqlite:${join(dir, 'bench.sqlite')}`, label: 'SQLite', async drop() { rmSync(dir, { recursive: true, force: true }); } };
}

export const postgresAvailable = (): Promise<boolean> => isPostgresAvailable(PG_ADMIN_URL);

export async function postgresDatabase(): Promise<BenchDatabase> {
  return { ...(await createPostgresDatabase('bench', PG_ADMIN_URL)), label: 'PostgreSQL' };
}

export const benchLogin = (i: number) => `user${i}`;

/** The recovery address of bench account i (a verified email method, for the reset benchmark). */
export const benchRecoveryEmail = (i: number) => `${benchLogin(i)}.recovery@example.net`;

/**
 * Gives accounts user0 … user{n-1} (already seeded) one verified email recovery method each,
 * `benchRecoveryEmail(i)`, as a `recovery_methods` row (what registration stores once the code matched).
 */
export async function seedEmailMethods(url: string, n: number): Promise<number> {
  const t0 = performance.now();
  const store = await openStore({ url });
  try {
    const { Account, RecoveryMethod } = store.models;
    const now = new Date();
    const accounts = await Account.findAll({ attributes: ['id', 'login'], raw: true });
    const byLogin = new Map(accounts.map((a) => [a.login, a.id]));
    const chunk = 2000;
    for (let from = 0; from < n; from += chunk) {
      const rows: Partial<RecoveryMethodRow>[] = [];
      for (let i = from; i < Math.min(n, from + chunk); i++) {
        const accountId = byLogin.get(benchLogin(i));
        if (!accountId) throw new Error(`seedEmailMethods: no account ${benchLogin(i)}`);
        rows.push({ id: randomUUID(), accountId, type: 'email', target: benchRecoveryEmail(i), secretEnc: null, lastTimeStep: null, verifiedAt: now });
      }
      await store.transaction((t) => RecoveryMethod.bulkCreate(rows, { transaction: t, validate: false }));
    }
  } finally {
    await store.close();
  }
  return (performance.now() - t0) / 1000;
}

/** Migrates the database and inserts accounts user0 … user{n-1}, all with `passwordHash`. */
export async function seedAccounts(url: string, n: number, passwordHash: string): Promise<number> {
  const t0 = performance.now();
  const store = await openStore({ url });
  try {
    const { Account } = store.models;
    const now = new Date();
    const chunk = 2000;
    for (let from = 0; from < n; from += chunk) {
      const rows: Partial<AccountRow>[] = [];
      for (let i = from; i < Math.min(n, from + chunk); i++) {
        rows.push({ id: randomUUID(), login: benchLogin(i), email: `${benchLogin(i)}@example.org`, name: `User ${i}`, passwordHash, passwordChangedAt: now });
      }
      await store.transaction((t) => Account.bulkCreate(rows, { transaction: t, validate: false }));
    }
    // PostgreSQL's autovacuum would analyse the table soon after such an insert; do it now. (SQLite
    // gets no statistics unless the app runs ANALYZE / PRAGMA optimize, so it gets none here either.)
    if (store.dialect === 'postgres') await store.sequelize.query('ANALYZE accounts');
  } finally {
    await store.close();
  }
  return (performance.now() - t0) / 1000;
}
