import type { Config } from '../config/schema.ts';
import type { Store } from '../store/index.ts';
import type { AuditLog } from './index.ts';

const SETTING = 'sspr_policy';

/** Flattens to `a.b.c → value` so a change reads as the keys that moved. */
function flatten(value: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix ? `${prefix}.${k}` : k, out);
  } else {
    out[prefix] = value;
  }
  return out;
}

/**
 * Records "SSPR policy changed" when the `sspr:` section differs from the one the last start saw,
 * with the changed keys before and after. The first start only remembers the policy. Instances
 * starting together on PostgreSQL lock the row, so a change is recorded once.
 */
export async function recordPolicyChange(store: Store, audit: AuditLog, policy: Config['sspr'], actor = 'config'): Promise<boolean> {
  const { Setting } = store.models;
  const current = JSON.stringify(policy);
  await Setting.bulkCreate([{ key: SETTING, value: current }], { ignoreDuplicates: true });
  return store.transaction(async (t) => {
    const row = await Setting.findByPk(SETTING, { transaction: t, lock: store.dialect === 'postgres' ? t.LOCK.UPDATE : undefined });
    if (!row || row.value === current) return false;
    const before = flatten(JSON.parse(row.value));
    const after = flatten(policy);
    const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => JSON.stringify(before[k]) !== JSON.stringify(after[k]));
    await Setting.update({ value: current }, { where: { key: SETTING }, transaction: t });
    await audit.record(
      {
        activity: 'sspr.policy.changed',
        result: 'success',
        actor,
        reason: `changed: ${changed.join(', ')}`.slice(0, 400),
        details: { before: Object.fromEntries(changed.map((k) => [k, before[k]])), after: Object.fromEntries(changed.map((k) => [k, after[k]])) },
      },
      t,
    );
    return true;
  });
}
