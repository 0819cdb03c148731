import type { RequestContext } from '../../audit/index.ts';
import type { Language } from '../../i18n/index.ts';
import type { DomainDeps } from '../context.ts';
import { CodeInvalid, MethodNotAllowed, Throttled, isSsprError, type SsprError } from '../errors.ts';
import { createGuessLimiter } from '../guess-limits.ts';
import { combinedAmr, mfaEligibleTypes } from '../mfa-policy.ts';
import type { Method, StoredMethod } from '../methods/types.ts';
import type { DirectoryAccount } from '../ports.ts';
import type { ThrottleRule } from '../throttle.ts';

/**
 * The sign-in's second step, after the password: the account proves one of its registered methods
 * that `mfa.methods` allows. No state of its own: which method is being used is the page the user is
 * on, and a code sent by email or SMS is bound to the interaction (`bind`) and the account. Flows
 * never name a method: what a method proves at sign-in is its `amr` (methods/types.ts); a method
 * without one (the helpdesk's pass) is no second factor. A ceremony (a passkey) gets its options
 * from `ceremonyOptions` and its answer is checked by `verify`, bound to the same interaction.
 *
 * Every guess is counted before it is checked (guess-limits.ts, kind `second_factor`), a code is used
 * up when it matches (codes.ts, methods' `prove`), and each outcome is one audit event:
 * `auth.mfa.succeeded`, `auth.mfa.failed`, `auth.mfa.blocked`.
 */

export interface SecondFactorOption {
  method: Method;
  /** The registered method it proves (its masked target is shown). */
  stored: StoredMethod;
  masked: string | null;
}

export interface SecondFactorRequest {
  account: DirectoryAccount;
  /** What codes are bound to: the interaction the second step belongs to. */
  bind: string;
  ip: string;
  context: RequestContext;
  lang: Language;
}

export type SecondFactor = ReturnType<typeof createSecondFactor>;

const HOUR = 3_600_000;
const MINUTE = 60_000;

export function createSecondFactor(deps: DomainDeps) {
  const { config, store, clock, audit, methods, methodRepo, throttle } = deps;
  const guesses = createGuessLimiter({ throttle, limits: config.sspr.throttle });
  const sendRules: Record<'email_sends' | 'sms_sends', ThrottleRule> = {
    email_sends: sendRule(config.sspr.throttle.email_sends),
    sms_sends: sendRule(config.sspr.throttle.sms_sends),
  };
  function sendRule(r: { max: number; window_minutes: number; block_hours: number }): ThrottleRule {
    return { max: r.max, windowMs: r.window_minutes * MINUTE, blockMs: r.block_hours * HOUR };
  }
  const codeFlow = (bind: string) => `mfa:${bind}`;

  function throttled(until: Date | null, detail: string): Throttled {
    const now = clock.now();
    return new Throttled({ until: until ?? new Date(now.getTime() + MINUTE), now, detail });
  }

  /** The account's registered methods that serve as a second factor, in `mfa.methods` order. */
  async function options(accountId: string, loaded?: readonly StoredMethod[]): Promise<SecondFactorOption[]> {
    const stored = loaded ?? await methodRepo.listVerified(accountId);
    const list: SecondFactorOption[] = [];
    for (const id of mfaEligibleTypes(stored, config.mfa)) {
      const method = methods.get(id);
      const mine = stored.find((m) => m.type === id);
      if (!method || !method.amr || method.provesAll || !mine) continue;
      list.push({ method, stored: mine, masked: method.describe(mine).masked });
    }
    return list;
  }

  async function optionFor(accountId: string, methodId: string): Promise<SecondFactorOption> {
    const found = (await options(accountId)).find((o) => o.method.id === methodId);
    if (!found) throw new MethodNotAllowed({ detail: `second factor ${methodId} not registered or not allowed` });
    return found;
  }

  function event(req: SecondFactorRequest, activity: 'auth.mfa.succeeded' | 'auth.mfa.failed' | 'auth.mfa.blocked' | 'auth.mfa.code_sent', extra: { result: 'success' | 'failure' | 'blocked' | 'info'; reason?: string | null; details?: Record<string, unknown> }) {
    return {
      activity,
      result: extra.result,
      reason: extra.reason ?? null,
      actor: req.account.login,
      target: req.account.login,
      targetAccountId: req.account.id,
      details: extra.details,
      context: req.context,
    };
  }

  return {
    options,

    /** Whether this account's second step is blocked now (the page says so before anyone types). */
    async blockedUntil(req: Pick<SecondFactorRequest, 'account' | 'ip'>): Promise<Date | null> {
      const s = await guesses.peek('second_factor', { identifier: req.account.login, accountId: req.account.id, ip: req.ip });
      return s.allowed ? null : (s.until ?? new Date(clock.now().getTime() + MINUTE));
    },

    /** A ceremony's options (a passkey's challenge), bound to this interaction's second step. */
    async ceremonyOptions(req: SecondFactorRequest, methodId: string): Promise<Record<string, unknown>> {
      const { method } = await optionFor(req.account.id, methodId);
      if (method.kind !== 'ceremony') throw new MethodNotAllowed({ detail: `${methodId} runs no ceremony` });
      return method.proofOptions({ binding: codeFlow(req.bind), accountId: req.account.id });
    },

    /** Sends a code to the registered address or number of a target method (email, SMS). */
    async sendCode(req: SecondFactorRequest, methodId: string): Promise<{ masked: string | null }> {
      const option = await optionFor(req.account.id, methodId);
      const { method, stored } = option;
      if (method.kind !== 'target' || stored.target === null) throw new MethodNotAllowed({ detail: `${methodId} sends no code` });
      const limit = method.sendLimit;
      const rule = sendRules[limit];
      const keys = [
        { key: `mfa_${limit}/acct:${req.account.id}`, rule },
        { key: `mfa_${limit}/to:${stored.target}`, rule },
      ];
      const error = await store.transaction(async (t) => {
        const states = await throttle.hitMany(keys, t);
        const refused = states.filter((s) => !s.allowed);
        if (refused.length) {
          const until = refused.map((s) => s.blockedUntil ?? s.resetsAt).find((d): d is Date => d !== null) ?? null;
          if (states.some((s) => s.justBlocked)) {
            await audit.record(event(req, 'auth.mfa.blocked', { result: 'blocked', reason: `too_many_${methodId}_sends`, details: { method: methodId } }), t);
          }
          return throttled(until, `too many ${methodId} sign-in codes`);
        }
        await method.sendCode({
          flowId: codeFlow(req.bind),
          purpose: 'sign_in',
          accountId: req.account.id,
          target: stored.target,
          lang: req.lang,
          name: req.account.name,
          correlationId: req.context.correlationId ?? null,
        }, t);
        await audit.record(event(req, 'auth.mfa.code_sent', { result: 'info', details: { method: methodId } }), t);
        return null;
      });
      if (error) throw error;
      return { masked: option.masked };
    },

    /**
     * Checks one proof of `methodId`. Counted first; a wrong, used or replayed code is committed
     * with its count and audit event, then thrown. Returns the `amr` of the whole sign-in.
     */
    async verify(req: SecondFactorRequest & { firstAmr: readonly string[] | undefined }, methodId: string, code: string): Promise<{ amr: string[] }> {
      const option = await optionFor(req.account.id, methodId);
      const { method, stored } = option;
      const subject = { identifier: req.account.login, accountId: req.account.id, ip: req.ip };
      const outcome = await store.transaction(async (t): Promise<SsprError | null> => {
        const counted = await guesses.count('second_factor', subject, t);
        if (!counted.allowed) {
          const blocked = throttled(counted.until, 'too many wrong second factors');
          if (counted.justBlocked) {
            await audit.record(event(req, 'auth.mfa.blocked', {
              result: 'blocked', reason: 'too_many_failed_verifications', details: { method: methodId, until: blocked.until.toISOString(), by: counted.justBlocked },
            }), t);
          }
          return blocked;
        }
        let error: SsprError | null = null;
        try {
          if (method.kind === 'held_secret') {
            await method.prove({ accountId: req.account.id, stored, code, context: req.context }, t);
          } else if (method.kind === 'ceremony') {
            // The browser's answer to a challenge bound to this interaction's second step.
            await method.prove({ accountId: req.account.id, stored, code, context: req.context, binding: codeFlow(req.bind) }, t);
          } else {
            const r = await method.verifyCode({ flowId: codeFlow(req.bind), code }, t);
            // The code matched its interaction; it must also be this account's, sent to its registered target.
            if (r.accountId !== req.account.id || r.target !== stored.target) throw new CodeInvalid({ detail: 'sign-in code of another account or target' });
          }
        } catch (err) {
          if (!isSsprError(err)) throw err;
          error = err;
        }
        if (error) {
          await audit.record(event(req, 'auth.mfa.failed', { result: 'failure', reason: error.code, details: { method: methodId } }), t);
          return error;
        }
        await guesses.succeeded('second_factor', counted, t);
        await audit.record(event(req, 'auth.mfa.succeeded', { result: 'success', details: { method: methodId } }), t);
        return null;
      });
      if (outcome) throw outcome;
      return { amr: combinedAmr(req.firstAmr, method.amr ?? []) };
    },
  };
}
