import type { QueryInterface } from 'sequelize';

/**
 * One place keeps "methods confirmed at": `sspr_profiles.confirmed_at`, which works for any host's
 * accounts. The legacy `accounts.methods_confirmed_at` was still read as a fallback; its values move
 * into the profiles here (a profile's own date wins), and nothing reads or writes the column any more.
 * The column itself stays: dropping it on SQLite rebuilds `accounts`, which memberships point at, for
 * no gain. (Numbered 0009: 0008 is taken by the access passes.)
 */
export async function up({ context: qi }: { context: QueryInterface }): Promise<void> {
  const q = qi.sequelize;
  await q.query(`UPDATE sspr_profiles SET confirmed_at =
      (SELECT a.methods_confirmed_at FROM accounts a WHERE a.id = sspr_profiles.account_id)
    WHERE confirmed_at IS NULL
      AND EXISTS (SELECT 1 FROM accounts a WHERE a.id = sspr_profiles.account_id AND a.methods_confirmed_at IS NOT NULL)`);
  // The confirmation date stands in for the row's own timestamps: portable, and true enough.
  await q.query(`INSERT INTO sspr_profiles (account_id, confirmed_at, last_reset_at, created_at, updated_at)
    SELECT a.id, a.methods_confirmed_at, NULL, a.methods_confirmed_at, a.methods_confirmed_at FROM accounts a
    WHERE a.methods_confirmed_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM sspr_profiles p WHERE p.account_id = a.id)`);
  await q.query('UPDATE accounts SET methods_confirmed_at = NULL WHERE methods_confirmed_at IS NOT NULL');
}

/** The copy is not undone: the profiles hold the same dates, and the legacy column is unused. */
export async function down(): Promise<void> {}
