import { setTimeout as sleep } from 'node:timers/promises';
import type { AuditSink, RequestContext } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { normaliseIdentifier, type Throttle, type ThrottleRule } from './throttle.ts';

export interface SignInVerdict {
  allowed: boolean;
  retryAfterSeconds?: number;
}

export interface SignInGuard {
  /** Before checking a password: refuses while blocked, slows down after repeated failures. */
  before(identifier: string, ip: string): Promise<SignInVerdict>;
  /**
   * After the check: counts a failure (unknown identifiers exactly like known ones) or, after a
   * success, clears this client's count when `before` found one (or this instance counted one).
   */
  after(identifier: string, ip: string, succeeded: boolean, context?: RequestContext): Promise<void>;
}

/**
 * Password sign-in throttling, separate from the self-service reset block: guesses from one client
 * slow down after `delay_after` failures, and an identifier is blocked for a short `block_minutes`
 * after `block_after` failures from anywhere — so it is blocked long before 100 consecutive
 * failures (NIST SP 800-63B), while an attacker can only keep a user out briefly, never lock the
 * account or its self-service reset.
 */
export function createSignInGuard(deps: {
  throttle: Throttle;
  audit: AuditSink;
  clock: Clock;
  rules: Config['sspr']['throttle']['sign_in_failures'];
  /** Upper bound of the slow-down per attempt (tests set it low). */
  maxDelayMs?: number;
}): SignInGuard {
  const { throttle, audit, rules } = deps;
  const maxDelayMs = deps.maxDelayMs ?? 2000;
  const blockMs = rules.block_minutes * 60_000;
  const perIdentifier: ThrottleRule = { max: rules.block_after, windowMs: 24 * 3_600_000, blockMs };
  const perClient: ThrottleRule = { max: rules.block_after, windowMs: 24 * 3_600_000, blockMs };
  // Client counters before() found a row for: after() clears only those, so the usual sign-in (nothing
  // counted) writes nothing. Insertion-ordered and bounded; an entry whose after() never came only
  // costs one needless DELETE later.
  const counted = new Set<string>();
  const remember = (key: string) => {
    if (counted.size >= 10_000) counted.delete(counted.values().next().value as string);
    counted.add(key);
  };
  const keys = (identifier: string, ip: string) => {
    const id = normaliseIdentifier(identifier);
    return { id: `signin:id:${id}`, client: `signin:idip:${id}|${ip}` };
  };

  return {
    async before(identifier, ip) {
      const k = keys(identifier, ip);
      const [byId, byClient] = await throttle.peekMany([{ key: k.id, rule: perIdentifier }, { key: k.client, rule: perClient }]);
      if (byClient.count > 0 || byClient.blockedUntil) remember(k.client);
      else counted.delete(k.client);
      const blockedUntil = byId.blockedUntil ?? byClient.blockedUntil;
      if (blockedUntil) {
        return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((blockedUntil.getTime() - deps.clock.now().getTime()) / 1000)) };
      }
      const excess = byClient.count - rules.delay_after;
      if (excess >= 0) await sleep(Math.min(maxDelayMs, 250 * 2 ** excess));
      return { allowed: true };
    },
    async after(identifier, ip, succeeded, context) {
      const k = keys(identifier, ip);
      if (succeeded) {
        if (counted.delete(k.client)) await throttle.reset(k.client);
        return;
      }
      remember(k.client);
      const [byId] = await Promise.all([throttle.hit(k.id, perIdentifier), throttle.hit(k.client, perClient)]);
      if (byId.justBlocked) {
        await audit.record({ activity: 'auth.sign_in.blocked', result: 'blocked', reason: `${rules.block_after} failed sign-ins`, context });
      }
    },
  };
}
