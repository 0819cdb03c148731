import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Recovery methods are keyed by the directory's account id without a foreign key to `accounts`
 * (like `sspr_profiles`): an embedding host keeps its accounts elsewhere, and that table is empty.
 * Our server never deletes accounts (it disables them), so the dropped ON DELETE CASCADE removes nothing.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  if (qi.sequelize.getDialect() === 'postgres') {
    const [rows] = await qi.sequelize.query(
      "SELECT conname FROM pg_constraint WHERE conrelid = 'recovery_methods'::regclass AND contype = 'f'",
    );
    for (const { conname } of rows as Array<{ conname: string }>) {
      await qi.sequelize.query(`ALTER TABLE recovery_methods DROP CONSTRAINT "${conname}"`);
    }
    return;
  }
  await rebuildSqlite(qi, false);
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  if (qi.sequelize.getDialect() === 'postgres') {
    await qi.sequelize.query('ALTER TABLE recovery_methods ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE');
    return;
  }
  await rebuildSqlite(qi, true);
}

/** SQLite cannot add or drop a constraint: copy the rows into a table defined the new way. */
async function rebuildSqlite(qi: QueryInterface, withForeignKey: boolean): Promise<void> {
  const accountId = withForeignKey
    ? { type: DataTypes.STRING(64), allowNull: false, references: { model: 'accounts', key: 'id' }, onDelete: 'CASCADE' }
    : { type: DataTypes.STRING(64), allowNull: false };
  const columns = 'id, account_id, type, target, secret_enc, last_time_step, verified_at, created_at, updated_at';
  await qi.createTable('recovery_methods_rebuild', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    account_id: accountId,
    type: { type: DataTypes.STRING(16), allowNull: false },
    target: { type: DataTypes.STRING(320), allowNull: true },
    secret_enc: { type: DataTypes.TEXT, allowNull: true },
    last_time_step: { type: DataTypes.BIGINT, allowNull: true },
    verified_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
    updated_at: { type: DataTypes.DATE, allowNull: false },
  });
  await qi.sequelize.query(`INSERT INTO recovery_methods_rebuild (${columns}) SELECT ${columns} FROM recovery_methods`);
  await qi.dropTable('recovery_methods');
  await qi.renameTable('recovery_methods_rebuild', 'recovery_methods');
  await qi.addIndex('recovery_methods', ['account_id', 'type']);
}
