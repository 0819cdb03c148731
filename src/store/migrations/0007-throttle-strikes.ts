import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Escalating throttles (issue 16): a key remembers how many blocks it has had in a row, so each
 * further block can last twice as long as the one before. Existing rows start at zero.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.addColumn('throttles', 'strikes', { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 });
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.removeColumn('throttles', 'strikes');
}
