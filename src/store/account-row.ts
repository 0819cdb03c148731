import type { AccountRow } from './index.ts';
import { readBool, readDate } from './sql.ts';

/** An account row as plain SQL returns it (snake_case columns, SQLite's 0/1 and date text). */
export interface RawAccountRow {
  id: string;
  login: string;
  email: string | null;
  email_verified: boolean | number;
  phone: string | null;
  phone_verified: boolean | number;
  name: string | null;
  password_hash: string | null;
  is_admin: boolean | number;
  disabled: boolean | number;
  password_changed_at: Date | string | null;
  language: string | null;
  credentials_epoch: number | string;
  created_at: Date | string | null;
  updated_at: Date | string | null;
}

/**
 * What a token's use needs of its account (code exchange, refresh, userinfo): who it is, whether it
 * may still be used (disabled, the credentials epoch) and its claims. Not the password hash, nor
 * dates nothing there reads: five columns fewer on every token's one statement (≈ 11 % of that
 * statement alone, measured), and the hash stays out of the token endpoints' memory.
 */
export type TokenAccountRow = Pick<AccountRow, 'id' | 'login' | 'email' | 'emailVerified' | 'phone' | 'phoneVerified' | 'name' | 'disabled' | 'credentialsEpoch' | 'updatedAt'>;
export type RawTokenAccountRow = Pick<RawAccountRow, 'id' | 'login' | 'email' | 'email_verified' | 'phone' | 'phone_verified' | 'name' | 'disabled' | 'credentials_epoch' | 'updated_at'>;

/** {@link TokenAccountRow}'s columns under the alias `a`, by their own names (as {@link ACCOUNT_COLUMNS}). */
export const TOKEN_ACCOUNT_COLUMNS = 'a.id, a.login, a.email, a.email_verified, a.phone, a.phone_verified, a.name, a.disabled, a.credentials_epoch, a.updated_at';

/**
 * The account's columns under the alias `a`, by their own names: a statement that reads the account
 * beside other columns (src/provider/adapter.ts) gets a {@link RawAccountRow} as long as those other
 * columns are named otherwise. Rows are built by column name, so the order is free.
 */
export const ACCOUNT_COLUMNS = `${TOKEN_ACCOUNT_COLUMNS}, a.password_hash, a.is_admin, a.password_changed_at, a.language, a.created_at`;

export function tokenAccountRowOf(r: RawTokenAccountRow): TokenAccountRow {
  return {
    id: r.id,
    login: r.login,
    email: r.email,
    emailVerified: readBool(r.email_verified),
    phone: r.phone,
    phoneVerified: readBool(r.phone_verified),
    name: r.name,
    disabled: readBool(r.disabled),
    credentialsEpoch: Number(r.credentials_epoch),
    updatedAt: readDate(r.updated_at) ?? undefined,
  };
}

/** The whole row: what a token's use reads, and the rest (sign-in, the directory, the CLI). */
export function accountRowOf(r: RawAccountRow): AccountRow {
  return {
    ...tokenAccountRowOf(r),
    passwordHash: r.password_hash,
    isAdmin: readBool(r.is_admin),
    passwordChangedAt: readDate(r.password_changed_at),
    language: r.language,
    createdAt: readDate(r.created_at) ?? undefined,
  };
}
