import type { AuditInput, AuditSink, RequestContext } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { CodeHasher } from './crypto.ts';
import { normaliseReadable, randomId, READABLE_ALPHABET, readableSecret } from './crypto.ts';
import type { TransactionHandle } from './ports.ts';

/**
 * Temporary Access Pass (Entra's name): a pass the helpdesk issues (CLI `user tap`) to a user who
 * lost every method. It satisfies the whole proof of a self-service reset.
 *
 * How the reset flow uses it (the lead's part):
 * - Offer "Temporary Access Pass" on the method page to every visitor while `policy().enabled`,
 *   unknown ids too.
 * - On the posted pass call `check(account?.id ?? null, typed, t)` inside the step's transaction,
 *   count the guess with the same throttle as a code (`failed_verifications`) before calling it, and
 *   treat `ok: false` exactly like a wrong code (one message, whatever `reason` says: the reason is
 *   for the audit log only). Unknown ids pass `null`: the same HMAC and the same query run.
 * - Record `accessPassAudit(result, { accountId, target: login, context })` in that transaction:
 *   `sspr.tap.used` (success) or `sspr.tap.refused` (failure, reason).
 * - `ok: true` proves every method the account needs: go straight to the new-password step.
 * - A one-time pass is consumed by `check` itself (a conditional UPDATE), so commit the transaction
 *   even when a later step fails, or the pass comes back to life with the rollback.
 * - A disabled account: treat it as unknown (`check(null, …)`); `check` does not read the directory.
 * Wiring: `createAccessPassService({ repository: createAccessPassRepository(store), clock,
 * hasher: createCodeHasher(config.secrets.encryption_keys), policy: config.sspr.temporary_access_pass,
 * audit })` — the same key as the CLI, or no pass it printed verifies. Call `purgeExpired()` hourly.
 */

/** The pass's characters (src/sspr/crypto.ts), the same as recovery codes'. */
export const PASS_ALPHABET = READABLE_ALPHABET;
/** 12 characters of 31 (≈ 59 bits): far past online guessing under the reset's throttle. */
export const PASS_LENGTH = 12;
const GROUP = 4;
export const MIN_MINUTES = 10;
export const DEFAULT_MINUTES = 60;
/** The HMAC's "channel": a pass hash can never pass for a one-time code's, nor the other way. */
const HASH_CHANNEL = 'temporary-access-pass';
/**
 * Unknown accounts are looked up under this id, so the query still runs. Were a directory to hand it
 * out, nothing changes: a null account is refused whatever the query finds.
 */
const NO_ACCOUNT = 'temporary-access-pass:no-account';

/** A stored pass; `passHash` is the only trace of the pass itself. */
export interface AccessPassRecord {
  id: string;
  accountId: string;
  passHash: string;
  oneTime: boolean;
  expiresAt: Date;
  usedAt: Date | null;
  revokedAt: Date | null;
  createdAt: Date;
  createdBy: string | null;
}

/** Storage the service needs; src/store/access-pass-repository.ts implements it on Sequelize. */
export interface AccessPassRepository {
  /** Runs `fn` in one write transaction (joins `t` when given). */
  transaction<T>(fn: (t: TransactionHandle) => Promise<T>, t?: TransactionHandle): Promise<T>;
  insert(pass: AccessPassRecord, t?: TransactionHandle): Promise<void>;
  /** The account's newest pass, whatever its state, or null. Exactly one query. */
  latest(accountId: string, t?: TransactionHandle): Promise<AccessPassRecord | null>;
  /** Sets `revokedAt` on every pass of the account that has not ended yet; returns how many. */
  revokeLive(accountId: string, now: Date, t?: TransactionHandle): Promise<number>;
  /**
   * Sets `usedAt` only while the pass is unused, unrevoked and unexpired, in one conditional UPDATE,
   * so of concurrent uses exactly one wins. True when this call set it.
   */
  consume(id: string, now: Date, t?: TransactionHandle): Promise<boolean>;
  /** Deletes the passes whose lifetime is over; returns how many. */
  deleteExpired(now: Date, t?: TransactionHandle): Promise<number>;
}

export interface AccessPassPolicy {
  enabled: boolean;
  max_minutes: number;
}

export interface AccessPassServiceOptions {
  repository: AccessPassRepository;
  clock: Clock;
  /** Only `hash` and `equals`: src/sspr/crypto.ts `createCodeHasher(encryption_keys)`. */
  hasher: CodeHasher;
  policy: AccessPassPolicy;
  /** Writes `admin.tap_issued` / `admin.tap_revoked` in the change's transaction when given. */
  audit?: AuditSink;
}

export interface IssueOptions {
  /** Lifetime, `MIN_MINUTES`..`policy.max_minutes`; default `DEFAULT_MINUTES` (capped at the maximum). */
  minutes?: number;
  /** Usable until it expires; otherwise the first successful use ends it. */
  reusable?: boolean;
  /** Who issued it (`cli:<os user>`), stored and audited. */
  actor: string;
  /** Readable name of the account (login) for the audit event. */
  target?: string;
}

export interface IssuedPass {
  /** The pass in clear, grouped (`abcd-efgh-jkmn`). Shown once; nothing can show it again. */
  pass: string;
  expiresAt: Date;
  oneTime: boolean;
  /** Older passes of the account this one ended. */
  revoked: number;
}

export type AccessPassRefusal = 'unknown_account' | 'no_pass' | 'wrong_pass' | 'expired' | 'revoked' | 'used';

export type AccessPassCheck =
  | { ok: true; passId: string; oneTime: boolean }
  | { ok: false; reason: AccessPassRefusal };

export type AccessPassErrorCode = 'disabled' | 'minutes_out_of_range';

/** Issuing refused; `message` is one line fit for an admin's terminal. */
export class AccessPassError extends Error {
  override name = 'AccessPassError';
  readonly code: AccessPassErrorCode;
  constructor(code: AccessPassErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Case, spaces and dashes (any Unicode dash) are ignored, so `ABCD EFGH–JKMN` is the same pass. */
export const normalisePass = normaliseReadable;

/** `PASS_LENGTH` characters in groups of four: `abcd-efgh-jkmn`. */
export function generatePass(): string {
  return readableSecret(PASS_LENGTH, GROUP);
}

/** The audit event for a checked pass: `sspr.tap.used` or `sspr.tap.refused` with its reason. */
export function accessPassAudit(
  result: AccessPassCheck,
  subject: { accountId: string | null; target?: string | null; context?: RequestContext },
): AuditInput {
  const base = { target: subject.target ?? null, targetAccountId: subject.accountId, context: subject.context };
  return result.ok
    ? { ...base, activity: 'sspr.tap.used', result: 'success', details: { one_time: result.oneTime } }
    : { ...base, activity: 'sspr.tap.refused', result: 'failure', reason: result.reason };
}

export type AccessPassService = ReturnType<typeof createAccessPassService>;

export function createAccessPassService(options: AccessPassServiceOptions) {
  const { repository, clock, hasher, policy, audit } = options;
  const hashOf = (accountId: string, typed: string) => hasher.hash(accountId, HASH_CHANNEL, normalisePass(typed));
  // Compared against when there is no pass, so that path does the same constant-time comparison.
  // Hashed up front, so an unknown account's check does one HMAC like a known one's; without keys
  // (a CLI command that checks no pass) at first use instead, where the missing key is then named.
  let dummy: string | null = null;
  try {
    dummy = hasher.hash(NO_ACCOUNT, HASH_CHANNEL, 'no pass');
  } catch {
    dummy = null;
  }
  const dummyHash = () => (dummy ??= hasher.hash(NO_ACCOUNT, HASH_CHANNEL, 'no pass'));

  function lifetime(minutes: number | undefined): number {
    const wanted = minutes ?? Math.min(DEFAULT_MINUTES, policy.max_minutes);
    if (!Number.isInteger(wanted) || wanted < MIN_MINUTES || wanted > policy.max_minutes) {
      throw new AccessPassError(
        'minutes_out_of_range',
        `minutes: must be a whole number from ${MIN_MINUTES} to ${policy.max_minutes} (sspr.temporary_access_pass.max_minutes)`,
      );
    }
    return wanted;
  }

  /**
   * Checks a typed pass against the account's newest pass and consumes a one-time pass. `null`
   * (unknown user) does the same work: one HMAC, one query, one comparison. Not gated on
   * `policy.enabled`: the caller decides whether the pass path is offered at all.
   */
  async function check(accountId: string | null, typed: string, t?: TransactionHandle): Promise<AccessPassCheck> {
    const now = clock.now();
    const hash = hashOf(accountId ?? NO_ACCOUNT, typed);
    const latest = await repository.latest(accountId ?? NO_ACCOUNT, t);
    const matches = hasher.equals(hash, latest?.passHash ?? dummyHash());
    if (accountId === null) return { ok: false, reason: 'unknown_account' };
    if (!latest) return { ok: false, reason: 'no_pass' };
    if (!matches) return { ok: false, reason: 'wrong_pass' };
    if (latest.revokedAt) return { ok: false, reason: 'revoked' };
    if (latest.expiresAt.getTime() <= now.getTime()) return { ok: false, reason: 'expired' };
    if (!latest.oneTime) return { ok: true, passId: latest.id, oneTime: false };
    if (latest.usedAt) return { ok: false, reason: 'used' };
    // The read above may be stale: only the conditional UPDATE decides who used it.
    if (!(await repository.consume(latest.id, now, t))) return { ok: false, reason: 'used' };
    return { ok: true, passId: latest.id, oneTime: true };
  }

  /** Throws what `issue` would refuse before any account is looked up (the CLI asks first). */
  function assertCanIssue(minutes?: number): number {
    if (!policy.enabled) throw new AccessPassError('disabled', 'Temporary Access Passes are disabled (sspr.temporary_access_pass.enabled: false)');
    return lifetime(minutes);
  }

  return {
    policy: (): AccessPassPolicy => ({ ...policy }),
    assertCanIssue,

    /** Issues a pass for the account, ending its older ones. Throws AccessPassError when refused. */
    async issue(accountId: string, opts: IssueOptions, t?: TransactionHandle): Promise<IssuedPass> {
      const minutes = assertCanIssue(opts.minutes);
      const now = clock.now();
      const pass = generatePass();
      const oneTime = opts.reusable !== true;
      const expiresAt = new Date(now.getTime() + minutes * 60_000);
      const revoked = await repository.transaction(async (tx) => {
        // One pass per account at a time: the helpdesk's latest word is the only one that works.
        const ended = await repository.revokeLive(accountId, now, tx);
        await repository.insert({
          id: randomId(), accountId, passHash: hashOf(accountId, pass), oneTime, expiresAt,
          usedAt: null, revokedAt: null, createdAt: now, createdBy: opts.actor,
        }, tx);
        await audit?.record({
          activity: 'admin.tap_issued', result: 'success', actor: opts.actor, target: opts.target ?? null, targetAccountId: accountId,
          details: { minutes, one_time: oneTime, expires_at: expiresAt.toISOString(), revoked: ended },
        }, tx);
        return ended;
      }, t);
      return { pass, expiresAt, oneTime, revoked };
    },

    /** Ends every pass of the account; audited even when there was none (`revoked: 0`). */
    async revoke(accountId: string, opts: { actor: string; target?: string }, t?: TransactionHandle): Promise<{ revoked: number }> {
      const now = clock.now();
      return repository.transaction(async (tx) => {
        const revoked = await repository.revokeLive(accountId, now, tx);
        await audit?.record({
          activity: 'admin.tap_revoked', result: 'success', actor: opts.actor, target: opts.target ?? null, targetAccountId: accountId,
          details: { revoked },
        }, tx);
        return { revoked };
      }, t);
    },

    check,

    /**
     * For the hourly housekeeping. Every pass ends at `expiresAt` at the latest (used and revoked
     * ones too), so nothing past it can ever be accepted; keeping rows until then leaves `check` its
     * audit reasons (`used`, `revoked`) while they matter.
     */
    purgeExpired: (t?: TransactionHandle): Promise<number> => repository.deleteExpired(clock.now(), t),

    /** `check` as a yes/no. */
    async verify(accountId: string | null, typed: string, t?: TransactionHandle): Promise<boolean> {
      return (await check(accountId, typed, t)).ok;
    },
  };
}
