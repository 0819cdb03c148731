import { createNotices } from '../notices.ts';
import { createHash } from 'node:crypto';
import type { AuditInput, RequestContext } from '../../audit/index.ts';
import { METHOD_TYPES, type MethodType } from '../../config/schema.ts';
import type { Language } from '../../i18n/index.ts';
import type { DomainDeps } from '../context.ts';
import { constantEquals, randomId } from '../crypto.ts';
import {
  CodeInvalid, FlowExpired, FlowInvalid, MethodNotAllowed, PasswordRejected, Throttled, isSsprError, type SsprError,
} from '../errors.ts';
import type { Method, MethodRepository, StoredMethod } from '../methods/types.ts';
import { advance, assertLive, invalid, type ResetData, type ResetFlowState, type ResetState } from './reset-machine.ts';
import { evaluateAccount, type AccountPolicy } from '../policy.ts';
import type { DirectoryAccount, FlowRow, TransactionHandle as Transaction } from '../ports.ts';
import { createGuessLimiter, IP_FACTOR, subjectKey, type GuessCount, type GuessSubject } from '../guess-limits.ts';
import { keysFor, normaliseIdentifier, type ThrottleRule, type ThrottleState } from '../throttle.ts';

/**
 * The forgot-password flow (issue 4) as a state machine stored in the `flows` table, so any instance
 * can continue it. Drawn in docs/reset-flow.mermaid.
 *
 *   awaiting_identifier → awaiting_method → awaiting_target (email/SMS: the user types the address or
 *   number they registered) → awaiting_code → (second method when two are required) → awaiting_password → done
 *
 * `advance` is pure: it checks that an event fits the state and returns the next flow, or throws.
 * `createResetFlow` loads, re-checks the account on every step, and saves each step with its audit
 * event (and any queued message) in one transaction.
 *
 * No enumeration: unknown, disabled, out-of-scope and unregistered identifiers take the same path and
 * pages as a real account. A code is issued for every address or number typed (bound to nothing when
 * it does not match a registered method of an eligible account, so nothing is sent), TOTP codes are
 * checked against a dummy secret, and the flow simply never gets past the code step. Sends and
 * started flows are throttled per identifier as typed, per address and per both; wrong codes go
 * through the shared rule table (guess-limits.ts): counted before the code is checked, per account
 * (every spelling) or unknown identifier, per identifier + address, and per address at 20 times the
 * limit, so one address never blocks the accounts behind it that did nothing wrong.
 */

export { RESET_STATES, TRANSITIONS, advance, assertLive, pageOf, proofComplete } from './reset-machine.ts';
export type { ResetData, ResetEvent, ResetFlowState, ResetState } from './reset-machine.ts';

/** Who/where of a request. */
export interface ResetRequest {
  ip: string;
  lang: Language;
  context?: RequestContext;
}

export interface ResetFlowOptions {
  /**
   * Flows started per identifier / IP / identifier+IP. The configuration file has no key for it
   * (INTERFACE.md lists sends and failed verifications), so a fixed window with no block: it slows a
   * script walking through identifiers without ever locking anyone out.
   */
  startRule?: ThrottleRule;
}

type Eligible = { account: DirectoryAccount; policy: AccountPolicy; methods: StoredMethod[] };

/** Optional repository capability: the `last_reset_at` of `report registration`. */

const HOUR = 3_600_000;
const MINUTE = 60_000;
const COOKIE_SEP = '.';

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/**
 * A flow that has no row yet takes its id from its browser secret and its interaction: the cookie
 * alone then describes it, so showing the first page writes nothing (issue 16: every GET /reset
 * wrote a row, without limit), and a forged cookie can neither pick the id of another flow nor
 * carry a flow into another interaction.
 */
function idFor(secret: string, interactionUid: string | null): string {
  return createHash('sha256').update(`reset-flow-id|${interactionUid ?? ''}|${secret}`).digest().subarray(0, 16).toString('base64url');
}

function toState(row: FlowRow): ResetFlowState {
  return {
    id: row.id,
    state: row.state as ResetState,
    accountId: row.accountId,
    interactionUid: row.interactionUid,
    data: JSON.parse(row.data) as ResetData,
    expiresAt: row.expiresAt,
  };
}

export type ResetFlowService = ReturnType<typeof createResetFlow>;

/** What a step hands back to the route: the saved flow, or an error to show after the commit. */
type Outcome = { flow: ResetFlowState; error?: undefined } | { flow: ResetFlowState; error: SsprError };

export function createResetFlow(sspr: DomainDeps, options: ResetFlowOptions = {}) {
  const { store, clock, directory, audit, throttle, methods, config } = sspr;
  const { methodRepo } = sspr;
  const notices = createNotices({ config, delivery: sspr.delivery, methodRepo, directory });
  const policy = config.sspr;
  const tc = policy.throttle;
  const rules = {
    start: options.startRule ?? { max: tc.flows_started.max, windowMs: tc.flows_started.window_minutes * MINUTE, blockMs: tc.flows_started.block_hours * HOUR },
    fail: { max: tc.failed_verifications.max, windowMs: tc.failed_verifications.window_hours * HOUR, blockMs: tc.failed_verifications.block_hours * HOUR },
    // Keyed by the send limits' names in `sspr.throttle`: a target method names its own (`sendLimit`).
    email_sends: { max: tc.email_sends.max, windowMs: tc.email_sends.window_minutes * MINUTE, blockMs: tc.email_sends.block_hours * HOUR },
    sms_sends: { max: tc.sms_sends.max, windowMs: tc.sms_sends.window_minutes * MINUTE, blockMs: tc.sms_sends.block_hours * HOUR },
  } satisfies Record<string, ThrottleRule>;
  const guesses = createGuessLimiter({ throttle, limits: tc });
  /**
   * Keys `reset_<rule>/id:…`, `…/ip:…`, `…/id:…|ip:…` (throttle.ts keysFor), each with its rule: the
   * address alone gets IP_FACTOR times the limit, so one office behind one address is not blocked
   * for what a single person there does.
   */
  const keyed = (rule: 'start' | 'email_sends' | 'sms_sends', identifier: string, ip: string) => {
    const [id, addr, both] = keysFor({ identifier, ip });
    const r = rules[rule];
    return [
      { key: `reset_${rule}/${id}`, rule: r },
      { key: `reset_${rule}/${addr}`, rule: { ...r, max: r.max * IP_FACTOR } },
      { key: `reset_${rule}/${both}`, rule: r },
    ];
  };
  /** Who guesses a flow's codes: its account, or (leading nowhere) the identifier as typed. */
  const subjectOf = (flow: ResetFlowState, req: ResetRequest): GuessSubject => ({ identifier: flow.data.identifier ?? '', accountId: flow.accountId, ip: req.ip });

  /** A method the reset may offer, by id (ids come from forms). */
  function methodOf(id: string | undefined): Method {
    const method = id ? methods.get(id) : undefined;
    if (!method) throw new MethodNotAllowed({ detail: `no method ${id ?? '(none)'}` });
    return method;
  }

  function auditEvent(flow: ResetFlowState, account: DirectoryAccount | null, req: ResetRequest, e: Omit<AuditInput, 'target' | 'targetAccountId' | 'context'>): AuditInput {
    return {
      ...e,
      target: account?.login ?? null,
      targetAccountId: account?.id ?? null,
      // The flow id ties one reset's events together; the interaction's client says where it began.
      context: { ...req.context, ip: req.ip, correlationId: flow.id },
    };
  }

  async function save(prev: ResetFlowState, next: ResetFlowState, t: Transaction): Promise<void> {
    if (prev.state === 'awaiting_identifier') {
      // The first step stores the flow (start() wrote nothing). Its life starts here, with the first
      // thing the user submitted; two posts of one page race on the primary key.
      const expiresAt = new Date(clock.now().getTime() + policy.flow_ttl_minutes * MINUTE);
      if (!(await sspr.flows.insert({ ...next, expiresAt, kind: 'reset', data: JSON.stringify(next.data) }, t))) throw invalid(prev, `save to ${next.state} (concurrent step)`);
      return;
    }
    // Compare-and-set on the state: two tabs or a replayed form cannot both take the same step.
    const saved = await sspr.flows.update('reset', prev.id, { state: prev.state }, { state: next.state, accountId: next.accountId, data: JSON.stringify(next.data) }, t);
    if (!saved) throw invalid(prev, `save to ${next.state} (concurrent step)`);
  }

  /** Counts one hit on each key (one statement); refused when any is over. */
  async function hitAll(items: { key: string; rule: ThrottleRule }[], t: Transaction): Promise<{ allowed: boolean; justBlocked: boolean; until: Date | null }> {
    return summarise(await throttle.hitMany(items, t));
  }

  function summarise(states: ThrottleState[]) {
    const refused = states.filter((s) => !s.allowed);
    const until = refused.map((s) => s.blockedUntil ?? s.resetsAt).filter((d): d is Date => d !== null)
      .reduce<Date | null>((a, d) => (a && a.getTime() >= d.getTime() ? a : d), null);
    return { allowed: refused.length === 0, justBlocked: states.some((s) => s.justBlocked), until };
  }

  function throttled(until: Date | null, detail: string): Throttled {
    const now = clock.now();
    return new Throttled({ until: until ?? new Date(now.getTime() + MINUTE), now, detail });
  }

  /** Refused when the self-service reset of this account or identifier (or from this address) is blocked after too many wrong codes. */
  async function blockedFor(subject: GuessSubject, t?: Transaction): Promise<Throttled | null> {
    const s: GuessCount = await guesses.peek('reset_code', subject, t);
    return s.allowed ? null : throttled(s.until, `self-service reset of ${subjectKey(subject)} blocked`);
  }

  async function assertNotBlocked(flow: ResetFlowState, req: ResetRequest): Promise<void> {
    const blocked = await blockedFor(subjectOf(flow, req));
    if (blocked) throw blocked;
  }

  /** The account behind a flow, with its policy, or null when it can lead nowhere (re-read on every step). */
  /**
   * Where an account stands for a reset, from one set of reads (re-read on every step):
   * - `eligible`: enabled, in scope and capable — its registered methods can prove it;
   * - `reachable`: enabled and in scope, methods or not — a whole-proof method (the helpdesk's pass) can.
   * Unknown accounts run the same queries on an id that matches nothing.
   */
  async function standing(account: DirectoryAccount | null): Promise<{ eligible: Eligible | null; reachable: DirectoryAccount | null }> {
    const stored = await methodRepo.listVerified(account?.id ?? '');
    const confirmedAt = await methodRepo.confirmedAt(account?.id ?? '');
    if (!account || account.disabled) return { eligible: null, reachable: null };
    const p = evaluateAccount({ account, methods: stored, confirmedAt, policy, mfa: config.mfa, now: clock.now() });
    if (!p.inScope) return { eligible: null, reachable: null };
    const eligible = p.capable ? { account, policy: p, methods: stored.filter((m) => p.verifiedTypes.includes(m.type)) } : null;
    return { eligible, reachable: account };
  }

  /** The standing of the account behind a flow (an unknown flow looks up an id that matches nothing). */
  async function standingOf(accountId: string | null) {
    return standing(await directory.findById(accountId ?? ''));
  }

  /** The flow a secret names before its first step is stored. */
  function unsaved(secret: string, interactionUid: string | null, lang: Language): ResetFlowState {
    return {
      id: idFor(secret, interactionUid),
      state: 'awaiting_identifier',
      accountId: null,
      interactionUid,
      data: { bind: sha256(secret), identifier: null, methodsRequired: policy.methods_required, verified: [], pending: null, lang },
      // Until stored, only the cookie's lifetime bounds it; save() starts its time at the first step.
      expiresAt: new Date(clock.now().getTime() + policy.flow_ttl_minutes * MINUTE),
    };
  }

  async function loadRow(id: string, t?: Transaction): Promise<ResetFlowState | null> {
    const row = await sspr.flows.find('reset', id, t);
    return row ? toState(row) : null;
  }

  /**
   * Every method the policy enables, the same list for every identifier (INTERFACE.md): the configured
   * methods, plus every type while an administrator exists, because admins may use every type and
   * offering them only to admins would tell who is one; then the methods that are the whole proof
   * (the helpdesk's pass), offered to everyone.
   */
  async function offeredMethods(): Promise<string[]> {
    const all = policy.methods.length === METHOD_TYPES.length || (await directory.listAdmins()).length > 0;
    const types: readonly MethodType[] = all ? METHOD_TYPES : METHOD_TYPES.filter((m) => policy.methods.includes(m));
    return [...types, ...methods.all.filter((m) => !m.registrable).map((m) => m.id)];
  }

  const wholeProofOffered = () => methods.all.some((m) => m.provesAll);

  /**
   * Issues a code for a target method: sent only when `target` matches a registered method of an
   * eligible account, throttled per identifier, address, both, and per target, whatever matched.
   */
  async function issueCode(flow: ResetFlowState, method: Method & { kind: 'target' }, target: string, req: ResetRequest): Promise<ResetFlowState> {
    const type = method.id;
    const ok = (await standingOf(flow.accountId)).eligible;
    const match = ok?.methods.find((m) => m.type === type && m.target === target) ?? null;
    const next = advance(flow, { type: 'code_issued', masked: method.mask(target), target }, clock.now());
    const limit = method.sendLimit;
    const keys = [...keyed(limit, flow.data.identifier ?? '', req.ip), { key: `reset_${limit}/to:${target}`, rule: rules[limit] }];
    const outcome = await store.transaction(async (t): Promise<Outcome> => {
      const s = await hitAll(keys, t);
      if (!s.allowed) {
        if (s.justBlocked) {
          await audit.record(auditEvent(flow, ok?.account ?? null, req, {
            activity: 'sspr.reset.blocked', result: 'blocked', reason: `too_many_${type}_sends`, details: { method: type, until: s.until?.toISOString() ?? null },
          }), t);
        }
        return { flow, error: throttled(s.until, `too many ${type} codes`) };
      }
      await method.sendCode({
        flowId: flow.id,
        purpose: 'reset',
        accountId: match ? match.accountId : null,
        target: match ? match.target : null,
        lang: req.lang,
        name: ok?.account.name ?? null,
        correlationId: flow.id,
      }, t);
      await save(flow, next, t);
      await audit.record(auditEvent(next, ok?.account ?? null, req, {
        activity: 'sspr.reset.code_sent', result: match ? 'success' : 'info', reason: match ? null : 'no_matching_method', details: { method: type },
      }), t);
      return { flow: next };
    });
    if (outcome.error) throw outcome.error;
    return outcome.flow;
  }

  return {
    rules,
    offeredMethods,

    /**
     * A new flow in `awaiting_identifier`, held only in `cookie` (the HttpOnly flow cookie): nothing
     * is written until the identifier is posted, so the first page costs the database nothing.
     */
    async start(input: { interactionUid: string | null; lang: Language }): Promise<{ flow: ResetFlowState; cookie: string }> {
      const secret = randomId();
      const flow = unsaved(secret, input.interactionUid, input.lang);
      return { flow, cookie: `${flow.id}${COOKIE_SEP}${secret}` };
    },

    /**
     * The flow named by the cookie. Missing, malformed or expired: FlowExpired (start again). Another
     * browser's flow (secret does not match), or a flow of another interaction: FlowInvalid.
     */
    async load(cookie: string | undefined, interactionUid: string | null): Promise<ResetFlowState> {
      const [id, secret, ...rest] = (cookie ?? '').split(COOKIE_SEP);
      if (!id || !secret || rest.length > 0 || id.length > 64 || secret.length > 64) throw new FlowExpired({ detail: 'no reset flow cookie' });
      const flow = await loadRow(id);
      if (!flow) {
        // Not stored yet (start() writes nothing): valid only as the flow this secret and interaction name.
        if (id === idFor(secret, interactionUid)) return unsaved(secret, interactionUid, config.language);
        throw new FlowExpired({ detail: `reset flow ${id} not found` });
      }
      if (!constantEquals(sha256(secret), flow.data.bind)) throw invalid(flow, 'load with another browser\'s cookie');
      if (flow.interactionUid !== interactionUid) throw invalid(flow, `load from interaction ${interactionUid ?? '(none)'}`);
      if (flow.state !== 'done' && flow.expiresAt.getTime() <= clock.now().getTime()) throw new FlowExpired({ detail: `reset flow ${id} expired` });
      return flow;
    },

    /** Step 1: the user id. The same page follows for every identifier. */
    async submitIdentifier(flow: ResetFlowState, rawIdentifier: string, req: ResetRequest): Promise<ResetFlowState> {
      assertLive(flow, clock.now());
      const identifier = normaliseIdentifier(rawIdentifier);
      const found = identifier ? await directory.findByIdentifier(identifier) : null;
      const here = await standing(found);
      const ok = here.eligible;
      // Without enough methods (or any), only the helpdesk's pass can lead anywhere: the flow keeps the account for it.
      const passOnly = wholeProofOffered() ? here.reachable : null;
      const accountId = ok?.account.id ?? passOnly?.id ?? null;
      const reason = !found ? 'unknown_user' : found.disabled ? 'account_disabled' : ok ? null : 'not_eligible';
      const methodsRequired = ok ? ok.policy.methodsRequired : policy.methods_required;
      const identified = advance(flow, { type: 'identify', identifier, accountId, methodsRequired }, clock.now());
      // The page language of the step that stores the flow (the cookie does not carry it).
      const next = { ...identified, data: { ...identified.data, lang: req.lang } };
      const outcome = await store.transaction(async (t): Promise<Outcome> => {
        const s = await hitAll(keyed('start', identifier, req.ip), t);
        // Checked before the flow moves on, so the user can try again on the same page later.
        const subject = { identifier, accountId, ip: req.ip };
        const error = s.allowed ? await blockedFor(subject, t) : throttled(s.until, 'too many reset flows started');
        if (error) {
          await audit.record(auditEvent(flow, found, req, {
            activity: 'sspr.reset.failed', result: 'failure', reason: s.allowed ? 'blocked' : 'too_many_flows', details: { until: error.until.toISOString() },
          }), t);
          return { flow, error };
        }
        await save(flow, next, t);
        await audit.record(auditEvent(next, found, req, { activity: 'sspr.reset.started', result: 'info', reason }), t);
        return { flow: next };
      });
      if (outcome.error) throw outcome.error;
      return outcome.flow;
    },

    /** Step 2: the method (a radio). Also how the user switches method from the target or code page. */
    async chooseMethod(flow: ResetFlowState, id: string, req: ResetRequest): Promise<ResetFlowState> {
      assertLive(flow, clock.now());
      await assertNotBlocked(flow, req);
      const method = methodOf(id);
      const next = advance(flow, { type: 'choose', method: method.id, kind: method.kind, offered: await offeredMethods() }, clock.now());
      // Navigation only: nothing is sent or proven, so no audit event.
      await store.transaction((t) => save(flow, next, t));
      return next;
    },

    /**
     * Step 3 (a target method): the address or number the user registered. A code is issued whatever
     * was typed; it goes out only when it matches a registered method of an eligible account.
     */
    async submitTarget(flow: ResetFlowState, input: string, req: ResetRequest): Promise<ResetFlowState> {
      assertLive(flow, clock.now());
      const method = flow.data.pending ? methods.get(flow.data.pending.type) : undefined;
      if (flow.state !== 'awaiting_target' || method?.kind !== 'target') throw invalid(flow, 'submit target');
      await assertNotBlocked(flow, req);
      const target = method.normaliseTarget(input); // MethodInvalidTarget: the same for every identifier
      return issueCode(flow, method, target, req);
    },

    /**
     * "Send a new code" on the code page: to the address or number typed on the target page, with the
     * same throttles as the first send and the same page for every identifier. The new code replaces
     * the older one (codes.ts), which then reads as "replaced by a newer code".
     */
    async resendCode(flow: ResetFlowState, req: ResetRequest): Promise<ResetFlowState> {
      assertLive(flow, clock.now());
      const method = flow.data.pending ? methods.get(flow.data.pending.type) : undefined;
      const target = flow.data.pending?.target;
      if (flow.state !== 'awaiting_code' || method?.kind !== 'target' || target === undefined) throw invalid(flow, 'resend code');
      await assertNotBlocked(flow, req);
      return issueCode(flow, method, target, req);
    },

    /** Step 4: the code (one sent to a target, or one the user holds: an app's code, a recovery code, a pass). */
    async submitCode(flow: ResetFlowState, code: string, req: ResetRequest): Promise<ResetFlowState> {
      assertLive(flow, clock.now());
      const method = flow.data.pending ? methods.get(flow.data.pending.type) : undefined;
      if (flow.state !== 'awaiting_code' || !method) throw invalid(flow, 'submit code');
      const type = method.id;
      await assertNotBlocked(flow, req);
      const here = await standingOf(flow.accountId);
      const ok = here.eligible;
      // A whole-proof method needs the account only reachable (no methods needed); the others, eligible.
      const holder = method.provesAll ? here.reachable : ok?.account ?? null;
      const stored = method.provesAll ? null : (ok?.methods.find((m) => m.type === type) ?? null);

      const outcome = await store.transaction(async (t): Promise<Outcome> => {
        // Counted before the code is checked (Kratos's order): concurrent guesses cannot get past the
        // limit, and a refused guess checks nothing.
        const counted = await guesses.count('reset_code', subjectOf(flow, req), t);
        if (!counted.allowed) {
          const blocked = throttled(counted.until, 'too many failed verifications');
          if (counted.justBlocked) {
            await audit.record(auditEvent(flow, ok?.account ?? null, req, {
              activity: 'sspr.reset.blocked', result: 'blocked', reason: 'too_many_failed_verifications',
              details: { method: type, until: blocked.until.toISOString(), by: counted.justBlocked },
            }), t);
          }
          return { flow, error: blocked };
        }
        let error: SsprError | null = null;
        try {
          if (method.kind === 'held_secret' || method.kind === 'ceremony') {
            // Unknown ids, and accounts without this method, get the same work inside `prove`. A
            // ceremony's challenge is bound to this flow.
            await method.prove({ accountId: holder?.id ?? null, stored, code, context: { ...req.context, ip: req.ip, correlationId: flow.id }, binding: flow.id }, t);
            if (!holder) throw new CodeInvalid({ detail: `${type}: proven for no eligible account` });
          } else {
            const r = await method.verifyCode({ flowId: flow.id, code }, t);
            // The code matched; it must also belong to this flow's account, still eligible now.
            if (!ok || r.accountId === null || r.accountId !== flow.accountId) throw new CodeInvalid({ detail: 'code bound to no eligible account' });
          }
        } catch (err) {
          if (!isSsprError(err)) throw err;
          error = err;
        }
        if (error) {
          // Commit the attempt count (codes.ts header) with the failure; the guess is already counted.
          await audit.record(auditEvent(flow, ok?.account ?? null, req, {
            activity: 'sspr.reset.failed', result: 'failure', reason: error.code, details: { method: type },
          }), t);
          return { flow, error };
        }
        // A right code is no failure: its hit is given back.
        await guesses.succeeded('reset_code', counted, t);
        const next = advance(flow, { type: 'verified', method: type, provesAll: method.provesAll }, clock.now());
        await save(flow, next, t);
        await audit.record(auditEvent(next, holder, req, { activity: 'sspr.reset.method_verified', result: 'success', details: { method: type, verified: next.data.verified.length, required: next.data.methodsRequired } }), t);
        return { flow: next };
      });
      if (outcome.error) throw outcome.error;
      return outcome.flow;
    },

    /**
     * The options of a ceremony method's proof (its page's script asks for them), bound to this flow.
     * The same for every identifier: unknown ids get a challenge too.
     */
    async ceremonyOptions(flow: ResetFlowState, req: ResetRequest): Promise<Record<string, unknown>> {
      assertLive(flow, clock.now());
      const method = flow.data.pending ? methods.get(flow.data.pending.type) : undefined;
      if (flow.state !== 'awaiting_code' || method?.kind !== 'ceremony') throw invalid(flow, 'ceremony options');
      await assertNotBlocked(flow, req);
      return method.proofOptions({ binding: flow.id, accountId: flow.accountId });
    },

    /** What the new-password page tells the user in advance. */
    passwordRules: () => sspr.passwordPolicy.describe(),

    /**
     * Step 5: the new password, twice. Then in one transaction: new hash, every session/grant/token
     * revoked, the flow done, the audit event, the notices queued, the identifier's counters forgotten.
     * The route detaches the interaction's session after this commits (a failed reset changes nothing).
     */
    async submitPassword(
      flow: ResetFlowState,
      input: { password: string; confirmation: string },
      req: ResetRequest,
    ): Promise<ResetFlowState> {
      assertLive(flow, clock.now());
      if (flow.state !== 'awaiting_password' || flow.accountId === null) throw invalid(flow, 'submit password');
      await assertNotBlocked(flow, req);
      // Disabled, out of scope or no longer capable since the codes: never past this point. After the
      // helpdesk's pass the account needs no methods: the next sign-in asks for them.
      const here = await standingOf(flow.accountId);
      const ok = here.eligible;
      const account = flow.data.complete ? here.reachable : ok && new Set(flow.data.verified).size >= ok.policy.methodsRequired ? ok.account : null;
      if (!account) throw invalid(flow, 'account no longer eligible');
      const current = await directory.verifyPassword(account.id, input.password);
      const check = sspr.passwordPolicy.check(input.password, {
        login: account.login, email: account.email, currentPasswordMatches: current, confirmation: input.confirmation,
      });
      if (!check.ok) throw new PasswordRejected({ failed: check.failed, detail: `reset flow ${flow.id}: ${check.failed.join(', ')}` });
      const next = advance(flow, { type: 'completed' }, clock.now());

      await store.transaction(async (t) => {
        await save(flow, next, t);
        await directory.setPassword(account.id, input.password, t);
        await directory.revokeEverything(account.id, t);
        await methodRepo.setLastResetAt(account.id, clock.now(), t);
        await audit.record(auditEvent(next, account, req, { activity: 'sspr.reset.completed', result: 'success', actor: account.login, details: { methods: next.data.verified } }), t);
        const notice = { lang: req.lang, time: clock.now(), correlationId: flow.id };
        await notices.passwordChanged(account, notice, t);
        await notices.adminPasswordReset(account, notice, t);
        // As Entra: a successful reset forgets the account's counters — every spelling, the account
        // key, with and without an address, the password sign-in's too — but not an address's own.
        const idents = new Set([flow.data.identifier, account.login, account.email].filter((v): v is string => !!v).map(normaliseIdentifier));
        await throttle.liftTouching([`acct:${account.id}`, ...[...idents].map((i) => `id:${i}`)], t);
      });
      return next;
    },

    /** Deletes flows past their expiry; returns how many. */
    async purgeExpired(): Promise<number> {
      return sspr.flows.purgeExpired('reset', clock.now());
    },
  };
}
