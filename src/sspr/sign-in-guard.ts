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
  /** After the check: counts a failure (unknown identifiers exactly like known ones) or clears this client's count. */
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
  const keys = (identifier: string, ip: string) => {
    const id = normaliseIdentifier(identifier);
    return { id: `signin:id:${id}`, client: `signin:idip:${id}|${ip}` };
  };

  return {
    async before(identifier, ip) {
      const k = keys(identifier, ip);
      const [byId, byClient] = await Promise.all([throttle.peek(k.id, perIdentifier), throttle.peek(k.client, perClient)]);
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
        await throttle.reset(k.client);
        return;
      }
      const [byId] = await Promise.all([throttle.hit(k.id, perIdentifier), throttle.hit(k.client, perClient)]);
      if (byId.justBlocked) {
        await audit.record({ activity: 'auth.sign_in.blocked', result: 'blocked', reason: `${rules.block_after} failed sign-ins`, context });
      }
    },
  };
}
