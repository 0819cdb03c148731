import { DataTypes, type Model, type ModelStatic, type Sequelize } from 'sequelize';

/** Per-account SSPR facts (table `sspr_profiles`, migration 0002). */
export interface SsprProfileRow {
  accountId: string;
  confirmedAt: Date | null;
  lastResetAt: Date | null;
  createdAt?: Date;
  updatedAt?: Date;
}

type M<T extends object> = ModelStatic<Model<T, Partial<T>> & T>;

export interface SsprModels {
  SsprProfile: M<SsprProfileRow>;
}

/**
 * Defines the SSPR models on one Sequelize instance (to be merged into models.ts). Reuses a model
 * already defined on this instance, so several modules may call it.
 */
export function defineSsprModels(sequelize: Sequelize): SsprModels {
  if (sequelize.isDefined('SsprProfile')) return { SsprProfile: sequelize.model('SsprProfile') as M<SsprProfileRow> };
  const SsprProfile = sequelize.define('SsprProfile', {
    accountId: { type: DataTypes.STRING(64), primaryKey: true, allowNull: false },
    confirmedAt: { type: DataTypes.DATE, allowNull: true },
    lastResetAt: { type: DataTypes.DATE, allowNull: true },
  }, { underscored: true, timestamps: true, tableName: 'sspr_profiles' }) as M<SsprProfileRow>;
  return { SsprProfile };
}
