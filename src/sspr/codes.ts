import type { Clock } from '../clock.ts';
import type { CodeHasher } from './crypto.ts';
import { randomDigits, randomId } from './crypto.ts';
import { CodeExpired, CodeInvalid, CodeUsed, TooManyAttempts } from './errors.ts';
import type { CodeStore, TransactionHandle } from './ports.ts';

/**
 * One-time codes sent by email or SMS. Only an HMAC of the code is stored (bound to flow + channel),
 * with its expiry, attempt count and use time. The order in `check` follows Kratos, not the racy
 * "read count, compare, then write" pattern: the attempt is counted in its own conditional UPDATE
 * before the comparison, so concurrent guesses can never exceed `maxAttempts` under any isolation
 * level, and consuming is a conditional UPDATE too, so a code is accepted at most once.
 *
 * Unknown accounts: call `issue` for them as well (accountId and target null) and deliver nothing.
 * Then expiry, attempts and every error look exactly as they do for a real account.
 *
 * Transactions: `check` throws on a wrong code. When you pass `t`, commit it anyway (with your audit
 * event and throttle hit) and rethrow afterwards: rolling back would undo the attempt count.
 */

export type CodePurpose = 'reset' | 'registration' | 'change' | (string & {});

export interface IssueInput {
  purpose: CodePurpose;
  flowId: string;
  accountId: string | null;
  channel: string;
  /** Where the code went (address / E.164 number), so the caller can trust it after a match. */
  target: string | null;
}

export interface CheckInput {
  flowId: string;
  channel: string;
  code: string;
}

export interface CheckResult {
  ok: true;
  accountId: string | null;
  target: string | null;
  purpose: string;
}

export interface CodeServiceOptions {
  store: CodeStore;
  clock: Clock;
  hasher: CodeHasher;
  ttlMinutes: number;
  maxAttempts?: number;
  length?: number;
}

export type CodeService = ReturnType<typeof createCodeService>;

export function createCodeService(options: CodeServiceOptions) {
  const { store, clock, hasher, ttlMinutes } = options;
  const maxAttempts = options.maxAttempts ?? 5;
  const length = options.length ?? 6;
  if (!(ttlMinutes > 0)) throw new RangeError('ttlMinutes must be positive');
  if (!Number.isInteger(maxAttempts) || maxAttempts < 1) throw new RangeError('maxAttempts must be a positive integer');
  if (!Number.isInteger(length) || length < 6 || length > 8) throw new RangeError('length must be 6..8 (messages carry 6 to 8 digits)');
  const normalise = (code: string) => code.normalize('NFKC').replace(/[\s-]/g, '');

  async function issue(input: IssueInput, t?: TransactionHandle): Promise<{ code: string; expiresAt: Date }> {
    const now = clock.now();
    const code = randomDigits(length);
    const expiresAt = new Date(now.getTime() + ttlMinutes * 60_000);
    // A newer code voids the older one (the store does both in one transaction), so only the code
    // in the latest message works.
    await store.replace({
      id: randomId(),
      purpose: input.purpose,
      flowId: input.flowId,
      accountId: input.accountId,
      channel: input.channel,
      target: input.target,
      codeHash: hasher.hash(input.flowId, input.channel, code),
      attempts: 0,
      expiresAt,
      usedAt: null,
      createdAt: now,
    }, t);
    return { code, expiresAt };
  }

  async function check(input: CheckInput, t?: TransactionHandle): Promise<CheckResult> {
    const now = clock.now();
    const latest = await store.latestUnused(input.flowId, input.channel, t);
    if (!latest) {
      // Issuing leaves the newest code unused, so "only used codes here" means the code was consumed.
      const any = await store.countIssued(input.flowId, input.channel, t);
      if (any > 0) throw new CodeUsed({ detail: 'every code of this flow and channel is used' });
      // Nothing was ever issued here: the same error as a wrong code, so this reveals nothing.
      throw new CodeInvalid({ detail: 'no code issued for this flow and channel', params: { attemptsLeft: maxAttempts - 1 } });
    }
    if (latest.expiresAt.getTime() <= now.getTime()) throw new CodeExpired({ detail: `code ${latest.id} expired at ${latest.expiresAt.toISOString()}` });

    if (!(await store.countAttempt(latest.id, maxAttempts, t))) {
      const after = await store.find(latest.id, t);
      if (after?.usedAt) throw new CodeUsed({ detail: `code ${latest.id} consumed concurrently` });
      throw new TooManyAttempts({ detail: `code ${latest.id} has no attempts left`, params: { attemptsLeft: 0 } });
    }
    // Read back rather than trust our earlier read: concurrent guesses may have counted in between.
    const counted = (await store.find(latest.id, t)) ?? latest;
    const attemptsLeft = Math.max(0, maxAttempts - counted.attempts);

    const typed = hasher.hash(input.flowId, input.channel, normalise(input.code));
    if (!hasher.equals(typed, latest.codeHash)) {
      if (attemptsLeft === 0) throw new TooManyAttempts({ detail: `code ${latest.id}: last attempt was wrong`, params: { attemptsLeft: 0 } });
      // The code of an earlier message of this flow: still a wrong (counted) guess, but the page can
      // say why — "replaced by a newer code" — instead of "not right". Same code, so nothing else changes.
      const replaced = (await store.isReplaced?.(input.flowId, input.channel, typed, t)) === true;
      throw new CodeInvalid({ detail: `code ${latest.id}: ${replaced ? 'a replaced code' : 'wrong code'}`, params: { attemptsLeft, ...(replaced ? { replaced: true } : {}) } });
    }

    if (!(await store.consume(latest.id, now, t))) throw new CodeUsed({ detail: `code ${latest.id} consumed concurrently` });
    return { ok: true, accountId: latest.accountId, target: latest.target, purpose: latest.purpose };
  }

  /** Deletes expired codes; returns how many. */
  async function purgeExpired(t?: TransactionHandle): Promise<number> {
    return store.purgeExpired(clock.now(), t);
  }

  return { issue, check, purgeExpired, maxAttempts, length, ttlMinutes };
}
