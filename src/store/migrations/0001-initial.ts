import { DataTypes, type QueryInterface } from 'sequelize';

const id = { type: DataTypes.STRING(64), primaryKey: true, allowNull: false };
const timestamps = {
  created_at: { type: DataTypes.DATE, allowNull: false },
  updated_at: { type: DataTypes.DATE, allowNull: false },
};

/** The first schema: accounts, groups, provider state, recovery methods, codes, flows, throttles, audit, deliveries. */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  await qi.createTable('accounts', {
    id,
    login: { type: DataTypes.STRING(190), allowNull: false, unique: true },
    email: { type: DataTypes.STRING(320), allowNull: true },
    email_verified: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    phone: { type: DataTypes.STRING(32), allowNull: true },
    phone_verified: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    name: { type: DataTypes.STRING(200), allowNull: true },
    password_hash: { type: DataTypes.STRING(255), allowNull: true },
    is_admin: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    disabled: { type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false },
    password_changed_at: { type: DataTypes.DATE, allowNull: true },
    methods_confirmed_at: { type: DataTypes.DATE, allowNull: true },
    language: { type: DataTypes.STRING(8), allowNull: true },
    ...timestamps,
  });
  await qi.addIndex('accounts', ['email']);

  await qi.createTable('groups', {
    id,
    name: { type: DataTypes.STRING(190), allowNull: false, unique: true },
    ...timestamps,
  });
  await qi.createTable('memberships', {
    group_id: { type: DataTypes.STRING(64), allowNull: false, primaryKey: true, references: { model: 'groups', key: 'id' }, onDelete: 'CASCADE' },
    account_id: { type: DataTypes.STRING(64), allowNull: false, primaryKey: true, references: { model: 'accounts', key: 'id' }, onDelete: 'CASCADE' },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await qi.addIndex('memberships', ['account_id']);

  // Every oidc-provider model in one table, keyed by (model, id); the indexed columns serve
  // findByUid, findByUserCode, revokeByGrantId and revoking everything of one account.
  await qi.createTable('oidc_payloads', {
    model: { type: DataTypes.STRING(40), allowNull: false, primaryKey: true },
    id: { type: DataTypes.STRING(255), allowNull: false, primaryKey: true },
    payload: { type: DataTypes.TEXT, allowNull: false },
    grant_id: { type: DataTypes.STRING(255), allowNull: true },
    user_code: { type: DataTypes.STRING(255), allowNull: true },
    uid: { type: DataTypes.STRING(255), allowNull: true },
    account_id: { type: DataTypes.STRING(64), allowNull: true },
    expires_at: { type: DataTypes.DATE, allowNull: true },
    consumed_at: { type: DataTypes.DATE, allowNull: true },
  });
  await qi.addIndex('oidc_payloads', ['grant_id']);
  await qi.addIndex('oidc_payloads', ['user_code']);
  await qi.addIndex('oidc_payloads', ['uid']);
  await qi.addIndex('oidc_payloads', ['account_id']);
  await qi.addIndex('oidc_payloads', ['expires_at']);

  await qi.createTable('recovery_methods', {
    id,
    account_id: { type: DataTypes.STRING(64), allowNull: false, references: { model: 'accounts', key: 'id' }, onDelete: 'CASCADE' },
    type: { type: DataTypes.STRING(16), allowNull: false },
    target: { type: DataTypes.STRING(320), allowNull: true },
    secret_enc: { type: DataTypes.TEXT, allowNull: true },
    last_time_step: { type: DataTypes.BIGINT, allowNull: true },
    verified_at: { type: DataTypes.DATE, allowNull: true },
    ...timestamps,
  });
  await qi.addIndex('recovery_methods', ['account_id', 'type']);

  await qi.createTable('one_time_codes', {
    id,
    purpose: { type: DataTypes.STRING(32), allowNull: false },
    flow_id: { type: DataTypes.STRING(64), allowNull: false },
    account_id: { type: DataTypes.STRING(64), allowNull: true },
    channel: { type: DataTypes.STRING(16), allowNull: false },
    target: { type: DataTypes.STRING(320), allowNull: true },
    code_hash: { type: DataTypes.STRING(128), allowNull: false },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    used_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await qi.addIndex('one_time_codes', ['flow_id', 'channel']);
  await qi.addIndex('one_time_codes', ['expires_at']);

  await qi.createTable('flows', {
    id,
    kind: { type: DataTypes.STRING(32), allowNull: false },
    state: { type: DataTypes.STRING(40), allowNull: false },
    account_id: { type: DataTypes.STRING(64), allowNull: true },
    interaction_uid: { type: DataTypes.STRING(255), allowNull: true },
    data: { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' },
    expires_at: { type: DataTypes.DATE, allowNull: false },
    ...timestamps,
  });
  await qi.addIndex('flows', ['account_id']);
  await qi.addIndex('flows', ['expires_at']);

  await qi.createTable('throttles', {
    key: { type: DataTypes.STRING(400), primaryKey: true, allowNull: false },
    count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    window_ends_at: { type: DataTypes.DATE, allowNull: false },
    blocked_until: { type: DataTypes.DATE, allowNull: true },
  });
  await qi.addIndex('throttles', ['window_ends_at']);

  await qi.createTable('audit_events', {
    id: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    time: { type: DataTypes.DATE, allowNull: false },
    activity: { type: DataTypes.STRING(64), allowNull: false },
    name: { type: DataTypes.STRING(200), allowNull: false },
    result: { type: DataTypes.STRING(16), allowNull: false },
    reason: { type: DataTypes.STRING(400), allowNull: true },
    actor: { type: DataTypes.STRING(200), allowNull: true },
    target: { type: DataTypes.STRING(200), allowNull: true },
    target_account_id: { type: DataTypes.STRING(64), allowNull: true },
    client_id: { type: DataTypes.STRING(255), allowNull: true },
    ip: { type: DataTypes.STRING(64), allowNull: true },
    user_agent: { type: DataTypes.STRING(400), allowNull: true },
    correlation_id: { type: DataTypes.STRING(64), allowNull: true },
    details: { type: DataTypes.TEXT, allowNull: true },
  });
  await qi.addIndex('audit_events', ['time']);
  await qi.addIndex('audit_events', ['activity', 'time']);
  await qi.addIndex('audit_events', ['target_account_id', 'time']);
  await qi.addIndex('audit_events', ['correlation_id']);

  await qi.createTable('deliveries', {
    id,
    channel: { type: DataTypes.STRING(16), allowNull: false },
    recipient: { type: DataTypes.STRING(320), allowNull: false },
    subject: { type: DataTypes.STRING(400), allowNull: true },
    body: { type: DataTypes.TEXT, allowNull: false },
    account_id: { type: DataTypes.STRING(64), allowNull: true },
    correlation_id: { type: DataTypes.STRING(64), allowNull: true },
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    next_attempt_at: { type: DataTypes.DATE, allowNull: false },
    last_error: { type: DataTypes.STRING(400), allowNull: true },
    sent_at: { type: DataTypes.DATE, allowNull: true },
    created_at: { type: DataTypes.DATE, allowNull: false },
  });
  await qi.addIndex('deliveries', ['status', 'next_attempt_at']);

  // Small shared state: signing keys, the last started SSPR policy (for "policy changed" events).
  await qi.createTable('settings', {
    key: { type: DataTypes.STRING(100), primaryKey: true, allowNull: false },
    value: { type: DataTypes.TEXT, allowNull: false },
    updated_at: { type: DataTypes.DATE, allowNull: false },
  });
}

export async function down({ context: qi }: { context: QueryInterface }): Promise<void> {
  for (const t of ['settings', 'deliveries', 'audit_events', 'throttles', 'flows', 'one_time_codes', 'recovery_methods', 'oidc_payloads', 'memberships', 'groups', 'accounts']) {
    await qi.dropTable(t);
  }
}
