import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Temporary Access Passes (issue 17): a helpdesk-issued pass for a user who lost every method. Only
 * an HMAC of the pass is kept. Keyed by the directory's account id without a foreign key, like
 * `recovery_methods`: an embedding host keeps its accounts elsewhere. A pass ends by time
 * (`expires_at`), by use (`used_at`, one-time passes) or by an admin (`revoked_at`); rows stay for
 * the record until the account's next pass or revocation leaves them behind.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('access_passes', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    account_id: { type: DataTypes.STRING(64), allowNull: false },
    pass_hash: { type: DataTypes.STRING(128), allowNull: false },
    one_time: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: true },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    used_at: { type: DataTypes.DATE, allowNull: true },
    revoked_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
    created_by: { type: DataTypes.STRING(200), allowNull: true },
  });
  // Every look-up is "the newest pass of this account".
  await qi.addIndex('access_passes', ['account_id', 'created_at']);
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('access_passes');
}
