import type { RequestContext } from '../../audit/index.ts';
import type { MethodType } from '../../config/schema.ts';
import type { Language } from '../../i18n/index.ts';
import type { DomainDeps } from '../context.ts';
import { randomId } from '../crypto.ts';
import { FlowExpired, FlowInvalid, MethodInvalidTarget, MethodNotAllowed, NotFound, Throttled, isSsprError } from '../errors.ts';
import type { EnrolmentView, Method, StoredMethod, TargetMethod } from '../methods/types.ts';
import { evaluateAccount, type AccountPolicy } from '../policy.ts';
import type { DirectoryAccount, FlowRow, TransactionHandle as Transaction } from '../ports.ts';
import { createMethodNotices } from '../method-notices.ts';
import { createRegistrationThrottle } from './registration-throttle.ts';

/**
 * Registration of recovery methods, as a state machine stored in the `flows` table (kind
 * `registration`), so any instance can continue it. Transitions:
 *
 *   choosing ──select(a target method)──► awaiting_target ──sendCode──► awaiting_code ──verify ok──► choosing
 *   choosing ──select(a held-secret method)──► awaiting_secret ──verify ok──► choosing   (resend: awaiting_code again)
 *   any open step ──back──► choosing          choosing ──finish (enough types)──► done
 *   reconfirming ──reconfirm──► done        reconfirming ──change──► choosing
 *   choosing | reconfirming ──skip (policy.canSkip)──► done
 *
 * The same as a table (`TRANSITIONS`, checked by every step) and a diagram (docs/registration-flow.mermaid).
 * Which path a method takes is its `kind` (methods/types.ts): the flow never names a method.
 *
 * Each step is one transaction; those that change methods or the confirmation (verify, finish,
 * reconfirm, skip, remove, and the start) write one audit event in it. A wrong code is committed too
 * (the attempt count must stay), then counted against `failed_verifications` and rethrown.
 */

export type RegistrationState = 'choosing' | 'awaiting_target' | 'awaiting_code' | 'awaiting_secret' | 'reconfirming' | 'done';
export type RegistrationPurpose = 'sign_in' | 'self_service';

export type RegistrationStep = 'select' | 'sendCode' | 'resend' | 'back' | 'verify' | 'finish' | 'reconfirm' | 'skip';

/** Which states each step accepts (the diagram above). */
export const TRANSITIONS: Record<RegistrationStep, readonly RegistrationState[]> = {
  select: ['choosing', 'awaiting_target', 'awaiting_code', 'awaiting_secret'],
  sendCode: ['awaiting_target', 'awaiting_code'],
  resend: ['awaiting_code'],
  back: ['choosing', 'awaiting_target', 'awaiting_code', 'awaiting_secret', 'reconfirming'],
  verify: ['awaiting_code', 'awaiting_secret'],
  finish: ['choosing'],
  reconfirm: ['reconfirming', 'choosing'],
  skip: ['choosing', 'awaiting_target', 'awaiting_code', 'awaiting_secret', 'reconfirming'],
};

/** A method being registered: the address or number a code went to, or the sealed secret being set up. */
type PendingMethod = { type: MethodType; kind: 'target'; target: string } | { type: MethodType; kind: 'held_secret'; secret: string };

interface FlowData {
  purpose: RegistrationPurpose;
  /** The method picked on the choose page. */
  selected?: MethodType;
  pending: PendingMethod | null;
  /** Types verified in this flow (for the "added" list on the page). */
  added: MethodType[];
  /** Last password re-entry on /account/security (epoch ms), for the "signed in recently" rule. */
  reauthAt?: number;
}

export interface MethodSummary {
  id: string;
  type: MethodType;
  /** Masked address or number; null for a held secret. */
  masked: string | null;
  /** Codes left, for methods that are a set of single-use codes. */
  remaining?: number;
  verifiedAt: Date | null;
  /** False when removing it would leave fewer types than the policy requires (the page says why instead). */
  removable: boolean;
}

export interface AccountStatus {
  account: DirectoryAccount;
  methods: StoredMethod[];
  confirmedAt: Date | null;
  policy: AccountPolicy;
}

/** What a page needs to draw the current step; never a secret except the TOTP enrolment. */
export interface RegistrationView {
  id: string;
  state: RegistrationState;
  purpose: RegistrationPurpose;
  accountId: string;
  login: string;
  expiresAt: Date;
  policy: AccountPolicy;
  methods: MethodSummary[];
  pending: { type: MethodType; masked: string | null } | null;
  selected: MethodType | null;
  /** The profile's own address/number for the selected type, to prefill the form (the user's own data). */
  suggestion: string | null;
  added: MethodType[];
  /**
   * Types this user may add now: allowed by policy and not registered yet. A registered type is
   * changed from its own entry (`replaces`), never offered again as if it were new.
   */
  choices: MethodType[];
  /** Registered methods the selected step would replace (one method per type, see method-repository). */
  replaces: { type: MethodType; masked: string | null } | null;
  /** The code field of the selected method: digits only, and its own length. */
  proofInput: { digits: boolean; maxLength: number } | null;
  /** Enough distinct verified types to finish (or nothing is required: not in scope). */
  canFinish: boolean;
  reauthAt: Date | null;
  /** Only in `awaiting_secret`: the method's enrolment page (QR code and key, the new recovery codes). */
  enrolment?: EnrolmentView;
  /** The kind of the selected method: which form the target page shows. */
  selectedInput?: TargetMethod['profileField'];
}

export interface StepInput {
  context: RequestContext;
  lang: Language;
}

export type RegistrationFlow = ReturnType<typeof createRegistrationFlow>;

const KIND = 'registration';
const MINUTE = 60_000;

export function createRegistrationFlow(deps: DomainDeps) {
  const { config, store, clock, directory, audit, methods, methodRepo, throttle, delivery } = deps;
  const { flows } = deps;
  const ttlMs = config.sspr.flow_ttl_minutes * MINUTE;
  const helpdesk = config.sspr.helpdesk.url || config.sspr.helpdesk.email || null;
  const tell = createMethodNotices({ methods, delivery, clock, helpdesk }).tell;
  const { keys, refusal, hitAll, ensureNotBlocked } = createRegistrationThrottle({ config, throttle, clock });

  function parse(row: FlowRow): FlowData {
    const d = JSON.parse(row.data) as Partial<FlowData>;
    return { ...d, purpose: d.purpose ?? 'sign_in', pending: d.pending ?? null, added: d.added ?? [] };
  }

  /** A registrable method by id, or MethodNotAllowed (ids come from forms). */
  function methodOf(id: string | undefined): Method {
    const method = id ? methods.get(id) : undefined;
    if (!method || !method.registrable) throw new MethodNotAllowed({ detail: `no registrable method ${id ?? '(none)'}` });
    return method;
  }

  function targetMethodOf(id: string | undefined): TargetMethod {
    const method = methodOf(id);
    if (method.kind !== 'target') throw new FlowInvalid({ detail: `method ${method.id} takes no address or number` });
    return method;
  }

  function evaluate(account: DirectoryAccount, methodList: StoredMethod[], confirmedAt: Date | null): AccountPolicy {
    return evaluateAccount({ account, methods: methodList, confirmedAt, policy: config.sspr, mfa: config.mfa, now: clock.now() });
  }

  /** The account with its verified methods and policy: four small queries, used by the prompt too. */
  async function status(accountId: string, t?: Transaction): Promise<AccountStatus | null> {
    const account = await directory.findById(accountId);
    if (!account) return null;
    const [methodList, confirmedAt] = [await methodRepo.listVerified(accountId, t), await methodRepo.confirmedAt(accountId, t)];
    return { account, methods: methodList, confirmedAt, policy: evaluate(account, methodList, confirmedAt) };
  }

  function describe(m: { type: MethodType; target: string | null; secretEnc: string | null }): { masked: string | null; remaining?: number } {
    return methods.get(m.type)?.describe(m) ?? { masked: null };
  }

  async function view(row: FlowRow, st: AccountStatus): Promise<RegistrationView> {
    const data = parse(row);
    const { policy } = st;
    const pending = data.pending
      ? { type: data.pending.type, masked: data.pending.kind === 'target' ? describe({ ...data.pending, secretEnc: null }).masked : null }
      : null;
    const selected = data.selected ? methods.get(data.selected) : undefined;
    const profileField = selected?.kind === 'target' ? selected.profileField : undefined;
    const replaced = data.selected && row.state !== 'choosing' ? st.methods.find((m) => m.type === data.selected) : undefined;
    const v: RegistrationView = {
      id: row.id,
      state: row.state as RegistrationState,
      purpose: data.purpose,
      accountId: st.account.id,
      login: st.account.login,
      expiresAt: row.expiresAt,
      policy,
      methods: st.methods.map((m) => ({ id: m.id, type: m.type, ...describe(m), verifiedAt: m.verifiedAt, removable: !removalBlocked(st, m.id) })),
      pending,
      selected: data.selected ?? null,
      suggestion: profileField ? st.account[profileField] : null,
      selectedInput: profileField,
      added: data.added,
      // A ceremony method (passkeys) is held several times over, one per device: adding one is never a duplicate.
      choices: policy.allowedMethods.filter((type) => methods.get(type)?.kind === 'ceremony' || !st.methods.some((m) => m.type === type)),
      replaces: replaced ? { type: replaced.type, masked: describe(replaced).masked } : null,
      proofInput: selected?.proofInput ?? null,
      canFinish: (!policy.inScope || policy.verifiedTypes.length >= policy.methodsRequired) && !(policy.mfaRequired && policy.mfaTypes.length === 0),
      reauthAt: data.reauthAt ? new Date(data.reauthAt) : null,
    };
    const enrolling = data.pending?.kind === 'held_secret' ? methods.get(data.pending.type) : undefined;
    if (row.state === 'awaiting_secret' && enrolling?.kind === 'held_secret' && data.pending?.kind === 'held_secret') {
      v.enrolment = await enrolling.show(data.pending.secret, st.account.login);
    }
    return v;
  }

  /**
   * Whether removing `methodId` would leave an account in scope with fewer distinct types than it
   * needs. Checked when the page is drawn (no Remove offered) and again when the removal is asked for.
   */
  function removalBlocked(st: AccountStatus, methodId: string): { required: number } | null {
    const after = evaluate(st.account, st.methods.filter((m) => m.id !== methodId), st.confirmedAt);
    // The last method that serves as a second factor stays: without it the next sign-in could not finish.
    if (after.mfaRequired && after.mfaTypes.length === 0) return { required: after.methodsRequired };
    if (!st.policy.inScope) return null;
    return after.verifiedTypes.length < after.methodsRequired ? { required: after.methodsRequired } : null;
  }

  async function mustStatus(accountId: string, t?: Transaction): Promise<AccountStatus> {
    const st = await status(accountId, t);
    if (!st || st.account.disabled) throw new NotFound({ detail: `account ${accountId} not found or disabled` });
    return st;
  }

  /** Loads a live flow of this account; another account's or an unknown id is NotFound, an old one FlowExpired. */
  async function load(flowId: string, accountId: string, t?: Transaction): Promise<FlowRow> {
    const row = await flows.find(KIND, flowId, t);
    if (!row || row.accountId !== accountId) throw new NotFound({ detail: `registration flow ${flowId} not found for this account` });
    if (row.expiresAt.getTime() <= clock.now().getTime()) throw new FlowExpired({ detail: `registration flow ${flowId} expired` });
    return row;
  }

  function expect(row: FlowRow, step: RegistrationStep): void {
    const states = TRANSITIONS[step];
    if (!states.includes(row.state as RegistrationState)) {
      throw new FlowInvalid({ detail: `registration flow ${row.id} is ${row.state}, ${step} needs ${states.join('|')}` });
    }
  }

  /** Saves state and data; every accepted step slides the expiry, so a slow but active user is not cut off. */
  async function save(row: FlowRow, state: RegistrationState, data: FlowData, t: Transaction): Promise<FlowRow> {
    const expiresAt = new Date(clock.now().getTime() + ttlMs);
    // Compare-and-set on the state read: a replayed or concurrent form cannot apply a step twice.
    const saved = await flows.update(KIND, row.id, { state: row.state, data: row.data }, { state, data: JSON.stringify(data), expiresAt }, t);
    if (!saved) throw new FlowInvalid({ detail: `registration flow ${row.id} changed concurrently` });
    return { ...row, state, data: JSON.stringify(data), expiresAt };
  }

  /**
   * The live flow bound to `binding` (the interaction uid, or the provider session uid for
   * /account/security), or a new one. A new sign-in flow whose only need is reconfirmation starts on
   * the "are these still right?" page.
   */
  async function open(input: { accountId: string; binding: string; purpose: RegistrationPurpose } & StepInput): Promise<RegistrationView> {
    const st = await mustStatus(input.accountId);
    const existing = await flows.findOpen(KIND, { accountId: input.accountId, interactionUid: input.binding, now: clock.now() });
    if (existing) return view(existing, st);
    const state: RegistrationState = input.purpose === 'sign_in' && st.policy.registrationDue === 'reconfirm_due' ? 'reconfirming' : 'choosing';
    const row = await store.transaction(async (t) => {
      const created: FlowRow = {
        id: randomId(),
        kind: KIND,
        state,
        accountId: input.accountId,
        interactionUid: input.binding,
        data: JSON.stringify({ purpose: input.purpose, pending: null, added: [] } satisfies FlowData),
        expiresAt: new Date(clock.now().getTime() + ttlMs),
      };
      if (!(await flows.insert(created, t))) throw new FlowInvalid({ detail: `registration flow id ${created.id} taken` });
      // Opening /account/security is not starting a registration: only the sign-in prompt is audited.
      if (input.purpose !== 'sign_in') return created;
      await audit.record({
        activity: 'sspr.registration.started',
        result: 'info',
        reason: st.policy.registrationDue || null,
        actor: st.account.login,
        target: st.account.login,
        targetAccountId: st.account.id,
        context: input.context,
      }, t);
      return created;
    });
    return view(row, st);
  }

  async function get(flowId: string, accountId: string): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    return view(row, await mustStatus(accountId));
  }

  /** Picks a method: a target method asks for the address or number; a held-secret method sets up its secret. */
  async function select(flowId: string, accountId: string, input: { type: string } & StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'select');
    const st = await mustStatus(accountId);
    const method = methodOf(input.type);
    const type = method.id as MethodType;
    if (!st.policy.allowedMethods.includes(type)) throw new MethodNotAllowed({ detail: `method ${input.type} not allowed` });
    const data = parse(row);
    // A ceremony (a passkey) is registered by its own page's script, not through these steps.
    if (method.kind === 'ceremony') throw new MethodNotAllowed({ detail: `method ${method.id} registers by ceremony` });
    if (method.kind === 'held_secret') {
      const { pending } = await method.enrol(st.account.login);
      const saved = await store.transaction((t) => save(row, 'awaiting_secret', { ...data, selected: type, pending: { type, kind: 'held_secret', secret: pending } }, t));
      return view(saved, st);
    }
    const saved = await store.transaction((t) => save(row, 'awaiting_target', { ...data, selected: type, pending: null }, t));
    return view(saved, st);
  }

  /** Sends a code to the address or number typed for the selected method (throttled per account and IP). */
  async function sendCode(flowId: string, accountId: string, input: { target: string } & StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'sendCode');
    const data = parse(row);
    const method = targetMethodOf(data.selected);
    const type = method.id as MethodType;
    const st = await mustStatus(accountId);
    if (!st.policy.allowedMethods.includes(type)) throw new MethodNotAllowed({ detail: `method ${type} not allowed` });
    const target = method.normaliseTarget(input.target);
    // After too many wrong codes, no fresh codes either: a new code would reset the guessing.
    await ensureNotBlocked('failed_verifications', accountId, input.context.ip);
    await hitAll(method.sendLimit, accountId, input.context.ip);
    const saved = await store.transaction(async (t) => {
      await method.sendCode({
        flowId: row.id,
        purpose: data.purpose === 'sign_in' ? 'registration' : 'change',
        accountId,
        target,
        lang: input.lang,
        name: st.account.name,
        correlationId: input.context.correlationId ?? null,
      }, t);
      return save(row, 'awaiting_code', { ...data, pending: { type, kind: 'target', target } }, t);
    });
    return view(saved, st);
  }

  /** A new code to the pending address or number (the old one stops working). */
  async function resend(flowId: string, accountId: string, input: StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'resend');
    const pending = parse(row).pending;
    if (!pending || pending.kind !== 'target') throw new FlowInvalid({ detail: 'nothing to resend' });
    return sendCode(flowId, accountId, { target: pending.target, ...input });
  }

  /** Leaves the code or authenticator step without registering anything. */
  async function back(flowId: string, accountId: string): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'back');
    const saved = await store.transaction((t) => save(row, 'choosing', { ...parse(row), pending: null }, t));
    return view(saved, await mustStatus(accountId));
  }

  /** Checks the code for the pending method; on success the method is stored as verified. */
  async function verify(flowId: string, accountId: string, input: { code: string } & StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'verify');
    const data = parse(row);
    const pending = data.pending;
    if (!pending) throw new FlowInvalid({ detail: 'no pending method' });
    // Counted before the code is checked (as the reset's codes): concurrent guesses cannot get past
    // the limit. A right code gives its count back below.
    const counted = keys('failed_verifications', accountId, input.context.ip);
    const refused = refusal(await throttle.hitMany(counted), 'failed_verifications');
    if (refused) throw refused;
    const st = await mustStatus(accountId);
    const code = input.code.slice(0, 32);
    const method = methodOf(pending.type);

    let failure: unknown = null;
    let proven: { target: string | null; secretEnc: string | null; lastTimeStep: number | null } | null = null;
    if (pending.kind === 'held_secret' && method.kind === 'held_secret') {
      // No database state to keep on failure: confirm first, outside a transaction.
      try {
        const r = await method.confirm(pending.secret, code);
        proven = { target: null, ...r };
      } catch (err) {
        if (!isSsprError(err)) throw err;
        failure = err;
      }
    }

    const saved = await store.transaction(async (t) => {
      if (pending.kind === 'target' && method.kind === 'target') {
        try {
          const r = await method.verifyCode({ flowId: row.id, code }, t);
          if (r.accountId !== accountId || r.target !== pending.target) throw new FlowInvalid({ detail: 'code issued for another account or target' });
          proven = { target: pending.target, secretEnc: null, lastTimeStep: null };
        } catch (err) {
          if (!isSsprError(err)) throw err;
          failure = err;
        }
      }
      if (!failure && !proven) failure = new FlowInvalid({ detail: `pending ${pending.kind} does not fit method ${method.id}` });
      if (failure) {
        // Only a wrong code is a guess: an expired or used one gives its count back, as before.
        const guessed = ['code_invalid', 'too_many_attempts'].includes((failure as { code: string }).code);
        if (!guessed) await throttle.refund(counted.map((k) => k.key), t);
        await audit.record({
          activity: 'sspr.registration.method_verified',
          result: 'failure',
          reason: (failure as { code: string }).code,
          actor: st.account.login,
          target: st.account.login,
          targetAccountId: accountId,
          context: input.context,
          details: { method: pending.type },
        }, t);
        return null; // commit the attempt count and the audit event, then throw below
      }
      await throttle.refund(counted.map((k) => k.key), t);
      const got = proven!;
      // Other channels to tell, read before the new method replaces one of its type.
      const others = st.methods.filter((m) => !(m.type === pending.type && m.target === got.target));
      const stored = await methodRepo.saveVerified({ accountId, type: pending.type, ...got }, t);
      await methodRepo.setConfirmedAt(accountId, clock.now(), t);
      if (method.kind === 'target' && got.target !== null && directory.markContactVerified) {
        const profile = st.account[method.profileField];
        if (profile && sameContact(method, profile, got.target)) await directory.markContactVerified(accountId, method.profileField, profile, t);
      }
      await tell(st.account, others, 'notice.method_added', pending.type, input, t);
      await audit.record({
        activity: 'sspr.registration.method_verified',
        result: 'success',
        actor: st.account.login,
        target: st.account.login,
        targetAccountId: accountId,
        context: input.context,
        details: { method: stored.type },
      }, t);
      const added = data.added.includes(pending.type) ? data.added : [...data.added, pending.type];
      return save(row, 'choosing', { ...data, pending: null, added }, t);
    });
    if (failure || !saved) throw failure;
    return view(saved, await mustStatus(accountId));
  }

  function sameContact(method: TargetMethod, profile: string, target: string): boolean {
    try {
      return method.normaliseTarget(profile) === target;
    } catch (err) {
      if (err instanceof MethodInvalidTarget) return false;
      throw err;
    }
  }

  /** Ends registration: needs enough distinct verified types. Counts as a (re)confirmation. */
  async function finish(flowId: string, accountId: string, input: StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'finish');
    const st = await mustStatus(accountId);
    if (st.policy.inScope && st.policy.verifiedTypes.length < st.policy.methodsRequired) {
      throw new FlowInvalid({ detail: 'not enough methods to finish', params: { reason: 'too_few_methods', required: st.policy.methodsRequired } });
    }
    // A second factor is required at sign-in: one method that can serve as one, first.
    if (st.policy.mfaRequired && st.policy.mfaTypes.length === 0) {
      throw new FlowInvalid({ detail: 'no method that serves as a second factor', params: { reason: 'too_few_methods', required: st.policy.methodsRequired } });
    }
    return confirmAndClose(row, st, 'sspr.registration.completed', input);
  }

  /** Sets confirmedAt, audits the closing activity and marks the flow done, in one transaction. */
  async function confirmAndClose(row: FlowRow, st: AccountStatus, activity: 'sspr.registration.completed' | 'sspr.registration.reconfirmed', input: StepInput): Promise<RegistrationView> {
    const accountId = st.account.id;
    const saved = await store.transaction(async (t) => {
      await methodRepo.setConfirmedAt(accountId, clock.now(), t);
      await audit.record({
        activity,
        result: 'success',
        actor: st.account.login,
        target: st.account.login,
        targetAccountId: accountId,
        context: input.context,
        details: { methods: st.policy.verifiedTypes },
      }, t);
      return save(row, 'done', parse(row), t);
    });
    return view(saved, await mustStatus(accountId));
  }

  /** "These are still right": sets confirmedAt without touching any method. */
  async function reconfirm(flowId: string, accountId: string, input: StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'reconfirm');
    const st = await mustStatus(accountId);
    if (!st.policy.capable) throw new FlowInvalid({ detail: 'cannot reconfirm: too few methods', params: { reason: 'too_few_methods' } });
    return confirmAndClose(row, st, 'sspr.registration.reconfirmed', input);
  }

  /** "Not now" (only where policy allows; never administrators): asked again at the next sign-in. */
  async function skip(flowId: string, accountId: string, input: StepInput): Promise<RegistrationView> {
    const row = await load(flowId, accountId);
    expect(row, 'skip');
    const st = await mustStatus(accountId);
    if (!st.policy.canSkip) throw new FlowInvalid({ detail: 'skipping is not allowed', params: { reason: 'skip_not_allowed' } });
    const saved = await store.transaction(async (t) => {
      await audit.record({
        activity: 'sspr.registration.skipped',
        result: 'info',
        reason: st.policy.registrationDue || null,
        actor: st.account.login,
        target: st.account.login,
        targetAccountId: accountId,
        context: input.context,
      }, t);
      return save(row, 'done', { ...parse(row), pending: null }, t);
    });
    return view(saved, st);
  }

  /** Records a password re-entry on /account/security in the flow ("signed in within the last 10 minutes"). */
  async function markReauthenticated(flowId: string, accountId: string, t: Transaction): Promise<void> {
    const row = await load(flowId, accountId, t);
    await save(row, row.state as RegistrationState, { ...parse(row), reauthAt: clock.now().getTime() }, t);
  }

  return { status, mustStatus, removalBlocked, open, get, select, sendCode, resend, back, verify, finish, reconfirm, skip, markReauthenticated };
}
