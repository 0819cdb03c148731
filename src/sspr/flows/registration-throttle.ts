import type { Clock } from '../../clock.ts';
import type { Config } from '../../config/schema.ts';
import { Throttled } from '../errors.ts';
import { IP_FACTOR } from '../guess-limits.ts';
import type { Throttle, ThrottleRule, ThrottleState } from '../throttle.ts';

const MINUTE = 60_000;
const HOUR = 3_600_000;

/** The registration flow's sends and wrong codes, counted on their own keys (split out of registration.ts). */
export function createRegistrationThrottle(deps: { config: Config; throttle: Throttle; clock: Clock }) {
  const { config, throttle, clock } = deps;
  const rules = {
    email_sends: sendRule(config.sspr.throttle.email_sends),
    sms_sends: sendRule(config.sspr.throttle.sms_sends),
    failed_verifications: {
      max: config.sspr.throttle.failed_verifications.max,
      windowMs: config.sspr.throttle.failed_verifications.window_hours * HOUR,
      blockMs: config.sspr.throttle.failed_verifications.block_hours * HOUR,
    },
  } satisfies Record<string, ThrottleRule>;

  function sendRule(r: { max: number; window_minutes: number; block_hours: number }): ThrottleRule {
    return { max: r.max, windowMs: r.window_minutes * MINUTE, blockMs: r.block_hours * HOUR };
  }

  /**
   * Registration has its own counters (prefix `register:`): its blocks never stop a password reset,
   * nor the reverse. Sends count per account, per IP and per both (SMS pumping comes from one place
   * with many accounts), the IP alone at IP_FACTOR times the limit so an office behind one address
   * can register together. Wrong codes count per account and per account + IP only: the user is
   * signed in, so guessing is bound to the account, and one user's typos must not block a whole office NAT.
   */
  function keys(kind: keyof typeof rules, accountId: string, ip: string | null | undefined): { key: string; rule: ThrottleRule }[] {
    const all = throttle.keysFor({ identifier: accountId, ip: ip ?? 'unknown' });
    const chosen = kind === 'failed_verifications' ? all.filter((k) => !k.startsWith('ip:')) : all;
    const rule = rules[kind];
    return chosen.map((k) => ({ key: `register:${kind}:${k}`, rule: k.startsWith('ip:') ? { ...rule, max: rule.max * IP_FACTOR } : rule }));
  }

  function refusal(states: ThrottleState[], kind: string): InstanceType<typeof Throttled> | null {
    const now = clock.now();
    const refused = states.filter((s) => !s.allowed);
    if (refused.length === 0) return null;
    const until = refused
      .map((s) => s.blockedUntil ?? s.resetsAt ?? now)
      .reduce((a, b) => (a.getTime() >= b.getTime() ? a : b));
    return new Throttled({ until, now, detail: `registration ${kind} throttled`, params: { kind } });
  }

  async function hitAll(kind: keyof typeof rules, accountId: string, ip: string | null | undefined): Promise<void> {
    const refused = refusal(await throttle.hitMany(keys(kind, accountId, ip)), kind);
    if (refused) throw refused;
  }

  async function ensureNotBlocked(kind: keyof typeof rules, accountId: string, ip: string | null | undefined): Promise<void> {
    const refused = refusal(await throttle.peekMany(keys(kind, accountId, ip)), kind);
    if (refused) throw refused;
  }

  return { keys, refusal, hitAll, ensureNotBlocked };
}
