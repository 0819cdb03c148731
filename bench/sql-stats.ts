/**
 * `npm run bench -- --sql`: inside the oidc-sspr child on SQLite, counts every statement the driver
 * runs (src/store/sqlite-driver.ts runs them synchronously on the main thread), the rows they wrote
 * (SQLite's `total_changes()` around each) and the main-thread CPU they took
 * (`process.threadCpuUsage`). Costs ≈ 2 µs per statement itself; off by default.
 * The CPU figure undercounts: Linux updates a running thread's CPU time only at scheduler ticks and
 * switches, so short synchronous statements are mostly missed (0.3 ms per sign-in here against
 * 0.75 ms in perf's samples, bench/perf-owners.ts). Statement and row counts are exact.
 */
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { reportSqlStats, type SqlStats } from './protocol.ts';

interface DriverDatabase { handle: { isOpen: boolean; prepare(sql: string): { get(): unknown } } }

export async function installSqlStats(dist: string): Promise<void> {
  const driver = (await import(pathToFileURL(join(dist, 'store/sqlite-driver.js')).href)) as { Database: { prototype: object } };
  const stats: SqlStats = { statements: 0, rowsWritten: 0, cpuUs: 0, writes: 0 };
  const totals = new WeakMap<object, { get(): unknown }>();
  const changes = (d: DriverDatabase) => {
    if (!d.handle.isOpen) return 0;
    let stmt = totals.get(d);
    if (!stmt) totals.set(d, (stmt = d.handle.prepare('SELECT total_changes() AS n')));
    return Number((stmt.get() as { n: number }).n);
  };
  const proto = driver.Database.prototype as Record<string, (this: DriverDatabase, ...args: unknown[]) => unknown>;
  for (const method of ['cachedAll', 'cachedRun', 'all', 'run', 'exec']) {
    const original = proto[method]!;
    proto[method] = function (this: DriverDatabase, ...args: unknown[]) {
      const c0 = process.threadCpuUsage();
      const before = changes(this);
      const result = original.apply(this, args);
      const written = changes(this) - before;
      const c = process.threadCpuUsage(c0);
      stats.statements++;
      stats.rowsWritten += written;
      if (written > 0) stats.writes++;
      stats.cpuUs += c.user + c.system;
      return result;
    };
  }
  reportSqlStats(() => ({ ...stats }));
}
