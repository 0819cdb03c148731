import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * The credentials epoch at every use (shared/DESIGN.md "Where access is decided").
 *
 * Each account carries a counter that every credential event moves (src/store/revoke.ts). Sessions
 * and grants record the epoch they were made under, and a login result records the epoch its
 * password was checked under; whatever is older than the account's epoch is refused where it is
 * used — on any instance, and also when a request that loaded a session before a reset writes it
 * back afterwards (oidc-provider saves the session at the end of every request that loaded it, and
 * the adapter's upsert recreates the row the reset deleted). Deleting rows stays as clean-up.
 *
 * oidc-provider keeps only the fields its models list in `IN_PAYLOAD`; {@link carryCredentialsEpoch}
 * adds ours to Session and Grant so the stamp is stored and loaded with them. Tokens need no stamp
 * of their own: each is checked through the grant it came from.
 */
export const EPOCH_FIELD = 'credentialsEpoch';

/** What a login result carries besides oidc-provider's own fields. */
export interface LoginResultEpoch {
  accountId: string;
  /** The epoch read before the password was checked (so never newer than the hash it verified). */
  credentialsEpoch: number;
}

type Stampable = object;

interface PayloadModel {
  IN_PAYLOAD: string[];
}

/** Lets Session and Grant payloads carry the epoch. Call once, right after `new Provider(...)`. */
export function carryCredentialsEpoch(provider: Provider): void {
  // Both are classes with a static IN_PAYLOAD getter; the typings do not declare it.
  const models = [provider.Session, provider.Grant] as unknown as PayloadModel[];
  for (const model of models) {
    const listed = model.IN_PAYLOAD;
    if (!Array.isArray(listed)) {
      // Without it the stamp would silently not be stored and every session would count as epoch 0.
      throw new Error('oidc-provider models no longer list IN_PAYLOAD: the credentials epoch cannot be stored');
    }
    if (listed.includes(EPOCH_FIELD)) continue;
    const withEpoch = [...listed, EPOCH_FIELD];
    Object.defineProperty(model, 'IN_PAYLOAD', { configurable: true, get: () => withEpoch });
  }
}

/** The epoch a session or grant was stamped with; unstamped ones (made before epochs existed) count as 0. */
export function epochOf(entity: Stampable | undefined | null): number {
  const value = entity ? (entity as Record<string, unknown>)[EPOCH_FIELD] : undefined;
  return typeof value === 'number' && Number.isInteger(value) ? value : 0;
}

export function stampEpoch(entity: Stampable, epoch: number): void {
  (entity as Record<string, unknown>)[EPOCH_FIELD] = epoch;
}

/** Fields of a signed-in session; deleting them leaves an anonymous session, as after a sign-out. */
const SIGNED_IN_FIELDS = ['accountId', 'loginTs', 'amr', 'acr', 'authorizations', 'transient', EPOCH_FIELD];

/**
 * Decides, inside oidc-provider's `findAccount` for a session (the authorization endpoint and its
 * resume), whether the session may act for `accountId` under the account's current `epoch`.
 *
 * - Resuming a login: the result's epoch must be current; then the session is stamped with it.
 * - Otherwise: the session's own stamp must be current.
 * A refused session is signed out in place (oidc-provider saves it at the end of the request), so
 * the login prompt follows: the sign-in page, or `login_required` for `prompt=none`.
 */
export function admitSession(ctx: KoaContextWithOIDC, accountId: string, epoch: number): boolean {
  const session = ctx.oidc.session;
  if (!session || session.accountId !== accountId) return false;
  const login = ctx.oidc.route === 'resume' ? (ctx.oidc.result?.login as Partial<LoginResultEpoch> | undefined) : undefined;
  const current = login && login.accountId === accountId ? login.credentialsEpoch === epoch : epochOf(session) === epoch;
  if (!current) {
    // The session object is oidc-provider's Proxy: `delete` reaches the target without its set trap,
    // which refuses an empty accountId.
    for (const field of SIGNED_IN_FIELDS) delete (session as unknown as Record<string, unknown>)[field];
    return false;
  }
  if (login) stampEpoch(session, epoch);
  return true;
}

/**
 * For the token endpoints (`findAccount` with a token): the grant the token came from must be stamped
 * with the current epoch. The refresh and code grants load it before asking for the account; the
 * userinfo endpoint after, so there the check runs again when claims are read.
 */
export function grantIsCurrent(ctx: KoaContextWithOIDC, epoch: number): boolean | undefined {
  const grant = ctx.oidc.entities.Grant;
  return grant ? epochOf(grant) === epoch : undefined;
}

/**
 * One decision for oidc-provider's `findAccount(ctx, sub, token)`: with a token, its grant must be
 * current (when the endpoint loaded it already); without, the session (or the login being resumed).
 */
export function admitsAccount(ctx: KoaContextWithOIDC, accountId: string, epoch: number, token?: unknown): boolean {
  return token ? grantIsCurrent(ctx, epoch) !== false : admitSession(ctx, accountId, epoch);
}

/**
 * The same checks for a host that runs its own oidc-provider and its own login and consent pages
 * (`createSspr(...).credentialsEpoch`): without them the host's sessions carry no epoch, and our
 * registration and account pages, which check it, would refuse them after the first credential event.
 */
export interface CredentialsEpochHooks {
  /** Once, right after `new Provider(...)`: sessions and grants store their epoch. */
  carry(provider: Provider): void;
  /**
   * In `findAccount(ctx, sub, token)`, after loading the account: false means return `undefined`. Call
   * it again inside `claims()` when a token is given: userinfo loads the token's grant after the account.
   */
  admits(ctx: KoaContextWithOIDC, account: { id: string; credentialsEpoch: number }, token?: unknown): boolean;
  /** Spread into the login result: `{ login: { accountId, ...loginFields(account) } }`, `account` read before the password check. */
  loginFields(account: { credentialsEpoch: number }, checkedAt?: Date): { credentialsEpoch: number; ts: number };
  /** On the consent page, before `grant.save()`: the grant carries the epoch of the session that gave it. */
  stampGrant(grant: object, account: { credentialsEpoch: number }): void;
  /**
   * Stamps a stored session or grant payload with the account's (new) epoch: a host's
   * `endOtherSessions` keeps the asking session and its grants this way while the epoch moves.
   */
  stamp(payload: object, account: { credentialsEpoch: number }): void;
}

export const credentialsEpochHooks: CredentialsEpochHooks = {
  carry: carryCredentialsEpoch,
  admits: (ctx, account, token) => admitsAccount(ctx, account.id, account.credentialsEpoch, token),
  loginFields: (account, checkedAt = new Date()) => ({ credentialsEpoch: account.credentialsEpoch, ts: Math.floor(checkedAt.getTime() / 1000) }),
  stampGrant: (grant, account) => stampEpoch(grant, account.credentialsEpoch),
  stamp: (payload, account) => stampEpoch(payload, account.credentialsEpoch),
};
