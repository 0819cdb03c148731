import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Per-account SSPR facts (last "these are still right", last self-service reset), keyed by the
 * directory's account id without a foreign key: an embedding host keeps its accounts elsewhere.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('sspr_profiles', {
    account_id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    confirmed_at: { type: DataTypes.DATE, allowNull: true },
    last_reset_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
    updated_at: { type: DataTypes.DATE, allowNull: false },
  });
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('sspr_profiles');
}
