import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';
import type { CodeRow, FlowRow as PortFlowRow } from '../sspr/ports.ts';

/** Row shapes, in the code's camelCase; columns are snake_case (`underscored`). */
export interface AccountRow {
  id: string;
  login: string;
  email: string | null;
  emailVerified: boolean;
  phone: string | null;
  phoneVerified: boolean;
  name: string | null;
  passwordHash: string | null;
  isAdmin: boolean;
  disabled: boolean;
  passwordChangedAt: Date | null;
  language: string | null;
  /** Moved by every credential event; sessions and grants made under an older one are refused. */
  credentialsEpoch: number;
  createdAt?: Date;
  updatedAt?: Date;
}
export interface GroupRow { id: string; name: string; createdAt?: Date; updatedAt?: Date }
export interface MembershipRow { groupId: string; accountId: string; createdAt?: Date }
export interface OidcPayloadRow {
  model: string;
  id: string;
  payload: string;
  grantId: string | null;
  userCode: string | null;
  uid: string | null;
  accountId: string | null;
  expiresAt: Date | null;
  consumedAt: Date | null;
}
export interface RecoveryMethodRow {
  id: string;
  accountId: string;
  type: string;
  target: string | null;
  secretEnc: string | null;
  lastTimeStep: number | null;
  verifiedAt: Date | null;
  createdAt?: Date;
  updatedAt?: Date;
}
/** The port's code row (src/sspr/ports.ts), as the model reads it. */
export type OneTimeCodeRow = Omit<CodeRow, 'createdAt'> & { createdAt?: Date };
/** The port's flow row (src/sspr/ports.ts), with the timestamp the model keeps. */
export type FlowRow = PortFlowRow & { updatedAt?: Date };
export interface ThrottleRow { key: string; count: number; windowEndsAt: Date; blockedUntil: Date | null; strikes: number }
export interface AuditEventRow {
  id: string;
  time: Date;
  activity: string;
  name: string;
  result: string;
  reason: string | null;
  actor: string | null;
  target: string | null;
  targetAccountId: string | null;
  clientId: string | null;
  ip: string | null;
  userAgent: string | null;
  correlationId: string | null;
  details: string | null;
}
export interface DeliveryRow {
  id: string;
  channel: string;
  recipient: string;
  subject: string | null;
  body: string;
  accountId: string | null;
  correlationId: string | null;
  status: string;
  attempts: number;
  nextAttemptAt: Date;
  lastError: string | null;
  sentAt: Date | null;
  createdAt?: Date;
}
export interface SettingRow { key: string; value: string; updatedAt?: Date }

type M<T extends object> = ModelStatic<Model<T, Partial<T>> & T>;

export interface Models {
  Account: M<AccountRow>;
  Group: M<GroupRow>;
  Membership: M<MembershipRow>;
  OidcPayload: M<OidcPayloadRow>;
  RecoveryMethod: M<RecoveryMethodRow>;
  OneTimeCode: M<OneTimeCodeRow>;
  Flow: M<FlowRow>;
  Throttle: M<ThrottleRow>;
  AuditEvent: M<AuditEventRow>;
  Delivery: M<DeliveryRow>;
  Setting: M<SettingRow>;
}

const str = (len: number, allowNull = true) => ({ type: DataTypes.STRING(len), allowNull });
const date = (allowNull = true) => ({ type: DataTypes.DATE, allowNull });
// Factories, not shared objects: Sequelize writes into an attribute's options while defining it.
const bool = () => ({ type: DataTypes.BOOLEAN, allowNull: false, defaultValue: false });
const pk = () => ({ type: DataTypes.STRING(64), primaryKey: true, allowNull: false });

/**
 * Defines the models on one Sequelize instance. `define` (not class `init`) so two instances in one
 * process — two provider instances in a test — each get their own model classes.
 */
export function defineModels(sequelize: Sequelize): Models {
  const common = { underscored: true, timestamps: true } as const;
  const Account = sequelize.define('Account', {
    id: pk(),
    login: str(190, false),
    email: str(320),
    emailVerified: bool(),
    phone: str(32),
    phoneVerified: bool(),
    name: str(200),
    passwordHash: str(255),
    isAdmin: bool(),
    disabled: bool(),
    passwordChangedAt: date(),
    language: str(8),
    credentialsEpoch: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
  }, { ...common, tableName: 'accounts' }) as M<AccountRow>;
  const Group = sequelize.define('Group', { id: pk(), name: str(190, false) }, { ...common, tableName: 'groups' }) as M<GroupRow>;
  const Membership = sequelize.define('Membership', {
    groupId: { type: DataTypes.STRING(64), primaryKey: true },
    accountId: { type: DataTypes.STRING(64), primaryKey: true },
  }, { ...common, updatedAt: false, tableName: 'memberships' }) as M<MembershipRow>;
  const OidcPayload = sequelize.define('OidcPayload', {
    model: { type: DataTypes.STRING(40), primaryKey: true },
    id: { type: DataTypes.STRING(255), primaryKey: true },
    payload: { type: DataTypes.TEXT, allowNull: false },
    grantId: str(255),
    userCode: str(255),
    uid: str(255),
    accountId: str(64),
    expiresAt: date(),
    consumedAt: date(),
  }, { underscored: true, timestamps: false, tableName: 'oidc_payloads' }) as M<OidcPayloadRow>;
  const RecoveryMethod = sequelize.define('RecoveryMethod', {
    id: pk(),
    accountId: str(64, false),
    type: str(16, false),
    target: str(320),
    secretEnc: { type: DataTypes.TEXT, allowNull: true },
    lastTimeStep: { type: DataTypes.BIGINT, allowNull: true, get(this: Model) { const v = this.getDataValue('lastTimeStep'); return v === null || v === undefined ? null : Number(v); } },
    verifiedAt: date(),
  }, { ...common, tableName: 'recovery_methods' }) as M<RecoveryMethodRow>;
  const OneTimeCode = sequelize.define('OneTimeCode', {
    id: pk(),
    purpose: str(32, false),
    flowId: str(64, false),
    accountId: str(64),
    channel: str(16, false),
    target: str(320),
    codeHash: str(128, false),
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    expiresAt: date(false),
    usedAt: date(),
  }, { ...common, updatedAt: false, tableName: 'one_time_codes' }) as M<OneTimeCodeRow>;
  const Flow = sequelize.define('Flow', {
    id: pk(),
    kind: str(32, false),
    state: str(40, false),
    accountId: str(64),
    interactionUid: str(255),
    data: { type: DataTypes.TEXT, allowNull: false, defaultValue: '{}' },
    expiresAt: date(false),
  }, { ...common, tableName: 'flows' }) as M<FlowRow>;
  const Throttle = sequelize.define('Throttle', {
    key: { type: DataTypes.STRING(400), primaryKey: true },
    count: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    windowEndsAt: date(false),
    blockedUntil: date(),
    strikes: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
  }, { underscored: true, timestamps: false, tableName: 'throttles' }) as M<ThrottleRow>;
  const AuditEvent = sequelize.define('AuditEvent', {
    id: pk(),
    time: date(false),
    activity: str(64, false),
    name: str(200, false),
    result: str(16, false),
    reason: str(400),
    actor: str(200),
    target: str(200),
    targetAccountId: str(64),
    clientId: str(255),
    ip: str(64),
    userAgent: str(400),
    correlationId: str(64),
    details: { type: DataTypes.TEXT, allowNull: true },
  }, { underscored: true, timestamps: false, tableName: 'audit_events' }) as M<AuditEventRow>;
  const Delivery = sequelize.define('Delivery', {
    id: pk(),
    channel: str(16, false),
    recipient: str(320, false),
    subject: str(400),
    body: { type: DataTypes.TEXT, allowNull: false },
    accountId: str(64),
    correlationId: str(64),
    status: { type: DataTypes.STRING(16), allowNull: false, defaultValue: 'pending' },
    attempts: { type: DataTypes.INTEGER, allowNull: false, defaultValue: 0 },
    nextAttemptAt: date(false),
    lastError: str(400),
    sentAt: date(),
  }, { ...common, updatedAt: false, tableName: 'deliveries' }) as M<DeliveryRow>;
  const Setting = sequelize.define('Setting', {
    key: { type: DataTypes.STRING(100), primaryKey: true },
    value: { type: DataTypes.TEXT, allowNull: false },
  }, { underscored: true, timestamps: true, createdAt: false, tableName: 'settings' }) as M<SettingRow>;
  return { Account, Group, Membership, OidcPayload, RecoveryMethod, OneTimeCode, Flow, Throttle, AuditEvent, Delivery, Setting };
}
