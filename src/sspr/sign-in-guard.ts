import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditSink, RequestContext } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createGuessLimiter } from './guess-limits.ts';
import type { Throttle } from './throttle.ts';

export interface SignInVerdict {
  allowed: boolean;
  retryAfterSeconds?: number;
  /** When the block ends, while refused. */
  until?: Date;
}

/** Who is signing in: the account the identifier resolved to (one budget for every spelling). */
export interface SignInSubject {
  /** The account's id when the identifier names one; leave out (or null) for an unknown identifier. */
  accountId?: string | null;
  context?: RequestContext;
}

export interface SignInGuard {
  /**
   * Counts the attempt, before the password is checked: refuses while blocked (check nothing then)
   * and slows down a client after repeated failures. Pass the account the identifier resolved to,
   * so the login and the email spelling share one budget.
   */
  before(identifier: string, ip: string, subject?: SignInSubject): Promise<SignInVerdict>;
  /**
   * After the check: a success ends the run of failures (the counters `before` counted go); a
   * failure is already counted.
   */
  after(identifier: string, ip: string, succeeded: boolean, context?: RequestContext, subject?: SignInSubject): Promise<void>;
}

/**
 * Password sign-in throttling on the shared rule table (guess-limits.ts), separate from the
 * self-service reset block: guesses from one client slow down after `delay_after` failures, and an
 * account (or an unknown identifier) is blocked for `block_minutes` after `block_after` failures from
 * anywhere, then allowed one guess per block with each block twice as long — far below 100
 * consecutive failures (NIST SP 800-63B). It never blocks the account's self-service reset, and a
 * successful reset lifts it.
 */
export function createSignInGuard(deps: {
  throttle: Throttle;
  audit: AuditSink;
  clock: Clock;
  /** `sspr.throttle` of the configuration (the sign-in rules are `sign_in_failures`). */
  limits: Config['sspr']['throttle'];
  /** Upper bound of the slow-down per attempt (tests set it low). */
  maxDelayMs?: number;
}): SignInGuard {
  const { audit, clock } = deps;
  const rules = deps.limits.sign_in_failures;
  const maxDelayMs = deps.maxDelayMs ?? 2000;
  const limiter = createGuessLimiter({ throttle: deps.throttle, limits: deps.limits });

  return {
    async before(identifier, ip, subject = {}) {
      const counted = await limiter.count('password', { identifier, accountId: subject.accountId ?? null, ip });
      if (counted.justBlocked === 'account') {
        await audit.record({
          activity: 'auth.sign_in.blocked',
          result: 'blocked',
          reason: `${rules.block_after} failed sign-ins`,
          details: { until: counted.until?.toISOString() ?? null },
          context: subject.context,
        });
      }
      if (!counted.allowed) {
        const until = counted.until ?? clock.now();
        return { allowed: false, until, retryAfterSeconds: Math.max(1, Math.ceil((until.getTime() - clock.now().getTime()) / 1000)) };
      }
      // Failures before this one from this client (the count includes this attempt).
      const excess = counted.clientCount - 1 - rules.delay_after;
      if (excess >= 0) await sleep(Math.min(maxDelayMs, 250 * 2 ** excess));
      return { allowed: true };
    },
    async after(identifier, ip, succeeded, _context, subject = {}) {
      // The keys are a function of who and where, so nothing is kept between the two calls (and
      // two attempts in flight from one client cannot take each other's place).
      if (succeeded) await limiter.succeeded('password', limiter.keysOf('password', { identifier, accountId: subject.accountId ?? null, ip }));
    },
  };
}
