import type { AccountClaims } from 'oidc-provider';
import type { TokenAccountRow } from '../store/account-row.ts';

/** Standard claims from an account row; verified flags only as set by a proven recovery method. */
export function claimsFor(row: TokenAccountRow): AccountClaims {
  return {
    sub: row.id,
    name: row.name ?? undefined,
    preferred_username: row.login,
    email: row.email ?? undefined,
    email_verified: row.email ? row.emailVerified : undefined,
    phone_number: row.phone ?? undefined,
    phone_number_verified: row.phone ? row.phoneVerified : undefined,
    updated_at: row.updatedAt ? Math.floor(row.updatedAt.getTime() / 1000) : undefined,
  };
}
