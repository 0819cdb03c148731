import type { Sequelize, Transaction } from 'sequelize';
import { openDatabase, type DatabaseOptions } from './db.ts';
import { migrate } from './migrate.ts';
import { defineModels, type Models } from './models.ts';

export type { Transaction } from 'sequelize';
export type * from './models.ts';

export interface Store {
  sequelize: Sequelize;
  models: Models;
  dialect: 'sqlite' | 'postgres';
  /** Runs `fn` in one write transaction (IMMEDIATE on SQLite). */
  transaction<T>(fn: (t: Transaction) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Opens the database, brings the schema up to date and defines the models. */
export async function openStore(options: DatabaseOptions & { migrate?: boolean }): Promise<Store> {
  const sequelize = await openDatabase(options);
  if (options.migrate !== false) await migrate(sequelize);
  return storeFromSequelize(sequelize);
}

export function storeFromSequelize(sequelize: Sequelize): Store {
  const models = defineModels(sequelize);
  return {
    sequelize,
    models,
    dialect: sequelize.getDialect() === 'sqlite' ? 'sqlite' : 'postgres',
    transaction: (fn) => sequelize.transaction((t) => fn(t)),
    close: () => sequelize.close(),
  };
}
