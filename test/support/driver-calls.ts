import { Database } from '../../src/store/sqlite-driver.ts';

/** The SQLite driver's methods every statement goes through (fast-sql's and Sequelize's). */
const STATEMENT_METHODS = ['cachedAll', 'cachedRun', 'all', 'run', 'exec'] as const;

/**
 * Runs `around` in place of each statement call of the SQLite driver, on every connection, with the
 * connection and the call itself (which `around` must make and return). For the regression guards
 * that watch what requests do to the database. Returns what undoes it.
 */
export function aroundDriverCalls(around: (connection: Database, call: () => unknown) => unknown): () => void {
  const proto = Database.prototype as unknown as Record<string, (this: Database, ...args: unknown[]) => unknown>;
  const originals = STATEMENT_METHODS.map((method) => [method, proto[method]!] as const);
  for (const [method, original] of originals) {
    proto[method] = function (this: Database, ...args: unknown[]) {
      return around(this, () => original.apply(this, args));
    };
  }
  return () => {
    for (const [method, original] of originals) proto[method] = original;
  };
}
