import type { Config } from '../config/schema.ts';
import { ipKey } from './ip-key.ts';
import { normaliseIdentifier, type Throttle, type ThrottleRule, type ThrottleState } from './throttle.ts';
import type { TransactionHandle } from './ports.ts';

/**
 * One rule table for every place a secret is guessed: the password (sign-in, re-authentication and
 * the current password of a password change share one budget) and the self-service reset's codes and the sign-in's second step.
 *
 * Every guess is counted before it is checked (one atomic upsert for all its keys), and checked only
 * when the count allows it, so concurrent guesses can never get past the limit. The keys:
 * - the account once the identifier resolves (`acct:<id>`: the login and email spellings share one
 *   budget); an identifier that resolves to nothing under its normalised spelling (`id:<identifier>`),
 *   so an unknown identifier is counted exactly like a known one. This key escalates: after the
 *   first block, one guess per block, each block twice as long (throttle.ts).
 * - the same subject from one address (`…|ip:<address>`), with the same limit and no escalation;
 *   it is what slows a client down after `delay_after` password failures.
 * - the address alone, for codes only, at {@link IP_FACTOR} times the account limit: a script trying
 *   many identifiers from one place is stopped, while one person's typos — or a stranger's guesses —
 *   behind an office NAT never block the colleagues who share the address.
 * Addresses count per IPv6 /64 (ip-key.ts).
 */

/** How many times the per-account limit one address may fail before it is blocked. */
export const IP_FACTOR = 20;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

export type GuessKind = 'password' | 'reset_code' | 'second_factor';

export interface GuessRules {
  /** Key prefix: `signin/…`, `reset_fail/…`. */
  scope: string;
  account: ThrottleRule;
  client: ThrottleRule;
  /** Null: no per-address key (password sign-in: a whole office signs in from one address). */
  address: ThrottleRule | null;
}

/** Who is guessing what. `accountId` when the identifier resolved to an account, else null. */
export interface GuessSubject {
  identifier: string;
  accountId: string | null;
  ip: string;
}

/** The rule table, from `sspr.throttle` in the configuration. */
export function guessRules(throttle: Config['sspr']['throttle']): Record<GuessKind, GuessRules> {
  const pw = throttle.sign_in_failures;
  const codes = throttle.failed_verifications;
  const pwBlock = pw.block_minutes * MINUTE;
  const code = { max: codes.max, windowMs: codes.window_hours * HOUR, blockMs: codes.block_hours * HOUR };
  return {
    password: {
      scope: 'signin',
      account: { max: pw.block_after, windowMs: DAY, blockMs: pwBlock, escalate: true },
      client: { max: pw.block_after, windowMs: DAY, blockMs: pwBlock },
      address: null,
    },
    reset_code: {
      scope: 'reset_fail',
      account: { ...code, escalate: true },
      client: code,
      address: { ...code, max: code.max * IP_FACTOR },
    },
    // The sign-in's second step: the same limits as reset codes, its own budget (a block here does
    // not stop the user's reset, and the other way round).
    second_factor: {
      scope: 'mfa_fail',
      account: { ...code, escalate: true },
      client: code,
      address: { ...code, max: code.max * IP_FACTOR },
    },
  };
}

/** The subject part of a key: the account, else the identifier as typed (normalised). */
export function subjectKey(subject: Pick<GuessSubject, 'identifier' | 'accountId'>): string {
  return subject.accountId ? `acct:${subject.accountId}` : `id:${normaliseIdentifier(subject.identifier)}`;
}

/** The result of counting one guess. */
export interface GuessCount {
  allowed: boolean;
  /** When the refusal ends (the latest of the blocks that refuse); null when allowed. */
  until: Date | null;
  /** This guess started the account's (or identifier's) block, or the address's: audit it once. */
  justBlocked: 'account' | 'client' | 'address' | null;
  /** Guesses counted from this client, this one included (the sign-in slow-down). */
  clientCount: number;
  /** The keys counted, for {@link GuessLimiter.succeeded}. */
  keys: string[];
}

export type GuessLimiter = ReturnType<typeof createGuessLimiter>;

export function createGuessLimiter({ throttle, limits }: { throttle: Throttle; limits: Config['sspr']['throttle'] }) {
  const rules = guessRules(limits);

  function keys(kind: GuessKind, subject: GuessSubject): { key: string; rule: ThrottleRule }[] {
    const r = rules[kind];
    const who = subjectKey(subject);
    const where = `ip:${ipKey(subject.ip)}`;
    const list = [{ key: `${r.scope}/${who}`, rule: r.account }, { key: `${r.scope}/${who}|${where}`, rule: r.client }];
    if (r.address) list.push({ key: `${r.scope}/${where}`, rule: r.address });
    return list;
  }

  function summarise(items: { key: string }[], states: ThrottleState[]): GuessCount {
    const refused = states.filter((s) => !s.allowed);
    const until = refused.map((s) => s.blockedUntil ?? s.resetsAt).filter((d): d is Date => d !== null)
      .reduce<Date | null>((a, d) => (a && a.getTime() >= d.getTime() ? a : d), null);
    const roles = ['account', 'client', 'address'] as const;
    const first = states.findIndex((s) => s.justBlocked);
    return {
      allowed: refused.length === 0,
      until,
      justBlocked: first >= 0 ? roles[first] : null,
      clientCount: states[1].count,
      keys: items.map((i) => i.key),
    };
  }

  return {
    rules,
    keys,

    /** Counts one guess on every key, before it is checked; go on only when `allowed`. */
    async count(kind: GuessKind, subject: GuessSubject, t?: TransactionHandle): Promise<GuessCount> {
      const items = keys(kind, subject);
      return summarise(items, await throttle.hitMany(items, t));
    },

    /** Whether a guess would be refused now, without counting one (pages before the guess). */
    async peek(kind: GuessKind, subject: GuessSubject, t?: TransactionHandle): Promise<GuessCount> {
      const items = keys(kind, subject);
      return summarise(items, await throttle.peekMany(items, t));
    },

    /**
     * The guess was right. A password ends the run of consecutive failures (NIST counts consecutive
     * ones): the account's and this client's counters go. A code only gives its own hit back: one
     * right code must not wipe the failures of another method still being guessed.
     */
    async succeeded(kind: GuessKind, counted: Pick<GuessCount, 'keys'>, t?: TransactionHandle): Promise<void> {
      if (kind === 'password') await throttle.clear(counted.keys.slice(0, 2), t);
      else await throttle.refund(counted.keys, t);
    },

    /** The keys a guess by `subject` counts on (to settle it later without keeping its GuessCount). */
    keysOf(kind: GuessKind, subject: GuessSubject): Pick<GuessCount, 'keys'> {
      return { keys: keys(kind, subject).map((k) => k.key) };
    },
  };
}
