import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { JWK } from 'oidc-provider';
import type { Store } from '../store/index.ts';

const SETTING = 'jwks';

interface StoredKeys { keys: JWK[] }

function newKeySet(): StoredKeys {
  // RS256 first: clients default to it. ES256 beside it for clients that ask.
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return {
    keys: [
      { ...rsa, kid: randomUUID(), use: 'sig', alg: 'RS256' } as JWK,
      { ...ec, kid: randomUUID(), use: 'sig', alg: 'ES256' } as JWK,
    ],
  };
}

/**
 * Signing keys are generated once and kept in the database, so every instance (and every restart)
 * signs with the same keys. Two instances starting at once: the first insert wins, both read it back.
 */
export async function loadOrCreateSigningKeys(store: Store): Promise<StoredKeys> {
  const { Setting } = store.models;
  const existing = await Setting.findByPk(SETTING);
  if (existing) return JSON.parse(existing.value) as StoredKeys;
  await Setting.bulkCreate([{ key: SETTING, value: JSON.stringify(newKeySet()) }], { ignoreDuplicates: true });
  const row = await Setting.findByPk(SETTING);
  if (!row) throw new Error('signing keys could not be stored');
  return JSON.parse(row.value) as StoredKeys;
}

/** Puts a new key set first; the old keys stay published so tokens they signed still verify. */
export async function rotateSigningKeys(store: Store): Promise<{ kids: string[] }> {
  return store.transaction(async (t) => {
    const { Setting } = store.models;
    const row = await Setting.findByPk(SETTING, { transaction: t, lock: store.dialect === 'postgres' ? t.LOCK.UPDATE : undefined });
    const old = row ? (JSON.parse(row.value) as StoredKeys).keys : [];
    const fresh = newKeySet().keys;
    // Keep the newest previous pair only: enough for tokens still in flight.
    const keys = [...fresh, ...old.slice(0, 2)];
    await Setting.upsert({ key: SETTING, value: JSON.stringify({ keys }) }, { transaction: t });
    return { kids: keys.map((k) => String(k.kid)) };
  });
}
