import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * The credentials epoch: a counter each account carries, moved by every credential event (reset,
 * password change, admin set-password, disable, methods reset, "sign out everywhere"). Sessions,
 * login results and grants record the epoch they were made under, and every use compares it with
 * this column (src/provider/credentials-epoch.ts). Existing accounts start at 0, which is also what
 * an unstamped session or grant counts as, so nothing is signed out by the upgrade itself.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('accounts', 'credentials_epoch', { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 });
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.removeColumn('accounts', 'credentials_epoch');
}
