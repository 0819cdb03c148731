import { DataTypes, type QueryInterface } from 'sequelize';

/**
 * Passkeys (issue 20). `passkey_credentials`: one row per WebAuthn credential, several per account,
 * keyed by the directory's account id without a foreign key (like `recovery_methods`: an embedding
 * host keeps its accounts elsewhere). The public key is stored as registered (COSE, base64url); the
 * sign count refuses a cloned authenticator's older count. `webauthn_challenges`: every challenge
 * handed to a browser, bound to what asked for it (a reset flow, an interaction, a registration
 * flow) and used at most once.
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('passkey_credentials', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    account_id: { type: DataTypes.STRING(64), allowNull: false },
    credential_id: { type: DataTypes.STRING(1400), allowNull: false, unique: true },
    public_key: { type: DataTypes.TEXT, allowNull: false },
    sign_count: { type: DataTypes.BIGINT, allowNull: false, defaultValue: 0 },
    transports: { type: DataTypes.STRING(200), allowNull: false, defaultValue: '[]' },
    aaguid: { type: DataTypes.STRING(64), allowNull: true },
    name: { type: DataTypes.STRING(100), allowNull: false },
    created_at: { type: DataTypes.DATE, allowNull: false },
    last_used_at: { type: DataTypes.DATE, allowNull: true },
  });
  await qi.addIndex('passkey_credentials', ['account_id']);
  await qi.createTable('webauthn_challenges', {
    challenge: { type: DataTypes.STRING(128), primaryKey: true, allowNull: false },
    purpose: { type: DataTypes.STRING(32), allowNull: false },
    binding: { type: DataTypes.STRING(200), allowNull: false },
    account_id: { type: DataTypes.STRING(64), allowNull: true },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    used_at: { type: DataTypes.DATE, allowNull: true },
  });
  await qi.addIndex('webauthn_challenges', ['expires_at']);
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.dropTable('webauthn_challenges');
  await qi.dropTable('passkey_credentials');
}
