import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { MethodType } from '../../../src/config/schema.ts';
import { isSsprError, type SsprErrorCode } from '../../../src/sspr/errors.ts';
import { advance, createResetFlow, type ResetFlowService, type ResetFlowState, type ResetRequest } from '../../../src/sspr/flows/reset.ts';
import { createMemorySspr, type MemorySspr } from '../../support/memory-sspr.ts';
import { methodRegistry, type TotpMethod } from '../../../src/sspr/methods/index.ts';

async function rejects(p: Promise<unknown> | (() => unknown), code: SsprErrorCode): Promise<void> {
  const run = typeof p === 'function' ? Promise.resolve().then(p) : p;
  await assert.rejects(run, (err: unknown) => {
    assert.ok(isSsprError(err, code), `expected ${code}, got ${String((err as Error)?.stack ?? err)}`);
    return true;
  });
}

const NOW = new Date('2026-05-04T12:00:00Z');
function flowIn(state: ResetFlowState['state'], over: Partial<ResetFlowState['data']> = {}, accountId: string | null = 'acc'): ResetFlowState {
  return {
    id: 'f1',
    state,
    accountId,
    interactionUid: null,
    data: { bind: 'x', identifier: 'alice', methodsRequired: 1, verified: [], pending: null, lang: 'en', ...over },
    expiresAt: new Date(NOW.getTime() + 60_000),
  };
}

describe('sspr/flows/reset advance (pure transitions)', () => {
  const offered: MethodType[] = ['email', 'sms', 'totp'];

  it('walks identifier → method → target → code → password → done', () => {
    let f = advance(flowIn('awaiting_identifier', { identifier: null }, null), { type: 'identify', identifier: 'alice', accountId: 'acc', methodsRequired: 1 }, NOW);
    assert.equal(f.state, 'awaiting_method');
    f = advance(f, { type: 'choose', method: 'email', kind: 'target', offered }, NOW);
    assert.equal(f.state, 'awaiting_target');
    f = advance(f, { type: 'code_issued', masked: 'a•••@example.org' }, NOW);
    assert.equal(f.state, 'awaiting_code');
    f = advance(f, { type: 'verified', method: 'email', provesAll: false }, NOW);
    assert.equal(f.state, 'awaiting_password');
    f = advance(f, { type: 'completed' }, NOW);
    assert.equal(f.state, 'done');
  });

  it('the authenticator app skips the target step; two required means two different types', () => {
    let f = advance(flowIn('awaiting_method', { methodsRequired: 2 }), { type: 'choose', method: 'totp', kind: 'held_secret', offered }, NOW);
    assert.equal(f.state, 'awaiting_code');
    f = advance(f, { type: 'verified', method: 'totp', provesAll: false }, NOW);
    assert.equal(f.state, 'awaiting_method', 'one of two');
    assert.throws(() => advance(f, { type: 'choose', method: 'totp', kind: 'held_secret', offered }, NOW), (e) => isSsprError(e, 'method_not_allowed'));
    assert.throws(() => advance(f, { type: 'completed' }, NOW), (e) => isSsprError(e, 'flow_invalid'));
  });

  it('refuses skipped steps, finished and expired flows, unknown accounts at the verify step, methods not offered', () => {
    assert.throws(() => advance(flowIn('awaiting_method'), { type: 'completed' }, NOW), (e) => isSsprError(e, 'flow_invalid'));
    assert.throws(() => advance(flowIn('awaiting_identifier'), { type: 'verified', method: 'email', provesAll: false }, NOW), (e) => isSsprError(e, 'flow_invalid'));
    assert.throws(() => advance(flowIn('done'), { type: 'choose', method: 'email', kind: 'target', offered }, NOW), (e) => isSsprError(e, 'flow_invalid'));
    assert.throws(() => advance(flowIn('awaiting_code', { pending: { type: 'email', masked: null } }, null), { type: 'verified', method: 'email', provesAll: false }, NOW), (e) => isSsprError(e, 'flow_invalid'));
    assert.throws(() => advance(flowIn('awaiting_code', { pending: { type: 'sms', masked: null } }), { type: 'verified', method: 'email', provesAll: false }, NOW), (e) => isSsprError(e, 'flow_invalid'));
    assert.throws(() => advance(flowIn('awaiting_method'), { type: 'choose', method: 'sms', kind: 'target', offered: ['email'] }, NOW), (e) => isSsprError(e, 'method_not_allowed'));
    assert.throws(() => advance(flowIn('awaiting_method'), { type: 'choose', method: 'email', kind: 'target', offered }, new Date(NOW.getTime() + 60_000)), (e) => isSsprError(e, 'flow_expired'));
  });
});

// The domain on in-memory ports (test/support/memory-sspr.ts): no database, no HTTP. The pages
// and both databases are covered by test/http/forgot-password*.test.ts and test/browser.
describe('sspr/flows/reset service (in-memory ports, test clock)', function () {
  let m: MemorySspr;
  let flows: ResetFlowService;
  let n = 0;
  let ipN = 0;
  let req: ResetRequest;
  const unique = (p: string) => `${p}${++n}`;

  before(async () => {
    // Scope: only the `sspr` group (so out-of-scope accounts exist); admins are in scope anyway.
    m = await createMemorySspr({ enabled_for: 'selected', groups: ['sspr'] }, new Date());
    flows = createResetFlow(m.deps, { startRule: { max: 3, windowMs: 3_600_000, blockMs: 0 } });
  });
  // A fresh IP per test: the per-IP counters of one test do not reach into the next.
  beforeEach(() => { req = { ip: `192.0.2.${++ipN}`, lang: 'en' }; });

  async function started(): Promise<{ flow: ResetFlowState; cookie: string }> {
    return flows.start({ interactionUid: null, lang: 'en' });
  }

  async function member(extra: { groups?: string[]; admin?: boolean } = {}) {
    const user = m.seedUser({ login: unique('u'), groups: extra.groups ?? ['sspr'], admin: extra.admin });
    const recovery = `${user.login}@recovery.example.net`;
    await m.deps.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
    return { ...user, recovery };
  }

  /** The code the flow's last code message carried. */
  async function queuedCode(flowId: string): Promise<string> {
    const code = m.state.outbox.filter((o) => o.correlationId === flowId).flatMap((o) => ('params' in o && 'code' in o.params ? [o.params.code] : [])).at(-1);
    assert.ok(typeof code === 'string', 'a code message was queued');
    return code;
  }
  const messagesOf = (flowId: string, to?: string) => m.state.outbox.filter((o) => o.correlationId === flowId && (to === undefined || o.to === to));

  it('binds a flow to its cookie and to its interaction; expires it', async () => {
    const { flow, cookie } = await started();
    assert.match(flow.id, /^[\w-]{22}$/, '128-bit id');
    assert.equal((await flows.load(cookie, null)).id, flow.id, 'the cookie alone names a flow not stored yet');
    const [id, secret] = cookie.split('.');
    await rejects(flows.load(`${id}.${'A'.repeat(22)}`, null), 'flow_expired');
    await rejects(flows.load(cookie, 'some-interaction'), 'flow_expired');
    await rejects(flows.load(undefined, null), 'flow_expired');
    await flows.submitIdentifier(flow, unique('nobody'), req);
    assert.equal((await flows.load(cookie, null)).state, 'awaiting_method', 'stored by its first step');
    await rejects(flows.load(`${id}.${'A'.repeat(22)}`, null), 'flow_invalid');
    await rejects(flows.load(cookie, 'some-interaction'), 'flow_invalid');
    assert.ok(secret);
    m.clock.advance(`${m.config.sspr.flow_ttl_minutes}m`);
    await rejects(flows.load(cookie, null), 'flow_expired');
  });

  it('starting a flow writes nothing: the first row is written by the identifier step', async () => {
    const before = m.state.flows.size;
    const { flow, cookie } = await started();
    assert.equal(m.state.flows.size, before, 'start() stored nothing');
    const loaded = await flows.load(cookie, null);
    await flows.submitIdentifier(loaded, unique('nobody'), req);
    assert.equal(m.state.flows.size, before + 1);
    await rejects(flows.submitIdentifier(loaded, unique('nobody'), req), 'flow_invalid');
    assert.equal(flow.id, loaded.id);
  });

  it('an out-of-scope account takes the same path as an unknown one: a code is issued, none sent, never past the code step', async () => {
    const outside = await member({ groups: [] });
    for (const login of [outside.login, unique('nobody')]) {
      let { flow } = await started();
      flow = await flows.submitIdentifier(flow, login, req);
      assert.equal(flow.accountId, null);
      flow = await flows.chooseMethod(flow, 'email', req);
      flow = await flows.submitTarget(flow, outside.recovery, req);
      assert.equal(flow.state, 'awaiting_code');
      assert.equal(m.state.codes.filter((c) => c.flowId === flow.id).length, 1);
      assert.equal(messagesOf(flow.id).length, 0);
      await rejects(flows.submitCode(flow, '123456', req), 'code_invalid');
      await rejects(flows.submitPassword(flow, { password: 'a fine new password 1', confirmation: 'a fine new password 1' }, req), 'flow_invalid');
    }
  });

  it('an account disabled after its code never reaches the password', async () => {
    const user = await member();
    let { flow } = await started();
    flow = await flows.submitIdentifier(flow, user.login, req);
    flow = await flows.submitTarget(await flows.chooseMethod(flow, 'email', req), user.recovery, req);
    flow = await flows.submitCode(flow, await queuedCode(flow.id), req);
    assert.equal(flow.state, 'awaiting_password');
    m.state.accounts.get(user.id)!.disabled = true;
    await rejects(flows.submitPassword(flow, { password: 'violet tractor lantern oboe', confirmation: 'violet tractor lantern oboe' }, req), 'flow_invalid');
    assert.equal(await m.deps.directory.verifyPassword(user.id, user.password), false, 'disabled: no password sign-in anyway');
    m.state.accounts.get(user.id)!.disabled = false;
    assert.equal(await m.deps.directory.verifyPassword(user.id, user.password), true, 'the password did not change');
  });

  it('unknown and known identifiers do the same TOTP work, and a TOTP code is refused on replay', async () => {
    const user = await member({ admin: true });
    const totp = m.deps.methods.of('totp') as TotpMethod;
    const enrolled = await totp.enrol('t');
    const e = { secret: String(enrolled.view.data.secret), secretEnc: enrolled.pending };
    await m.deps.methodRepo.saveVerified({ accountId: user.id, type: 'totp', secretEnc: e.secretEnc });
    let verifications = 0;
    const counted = { ...totp, prove: (...a: Parameters<typeof totp.prove>) => { verifications++; return totp.prove(...a); } };
    const counting = createResetFlow({ ...m.deps, methods: methodRegistry(m.deps.methods.all.map((x) => (x.id === 'totp' ? counted : x))) });
    const code = await generate({ secret: e.secret, epoch: Math.floor(m.clock.now().getTime() / 1000) });
    const run = async (login: string) => {
      let { flow } = await counting.start({ interactionUid: null, lang: 'en' });
      flow = await counting.chooseMethod(await counting.submitIdentifier(flow, login, req), 'totp', req);
      return counting.submitCode(flow, code, req);
    };
    const before = verifications;
    await rejects(run(unique('nobody')), 'code_invalid');
    assert.equal(verifications - before, 1, 'unknown: checked against a dummy secret');
    const ok = await run(user.login);
    assert.equal(verifications - before, 2);
    assert.equal(ok.state, 'awaiting_method', 'admin: a second method follows');
    await rejects(run(user.login), 'code_invalid');
  });

  it('throttles flows started per identifier, the same for unknown and known ones', async () => {
    const user = await member();
    for (const login of [user.login, unique('nobody')]) {
      for (let i = 0; i < 3; i++) await flows.submitIdentifier((await started()).flow, login, { ...req, ip: `198.51.100.${i}` });
      await rejects(flows.submitIdentifier((await started()).flow, login, { ...req, ip: '198.51.100.9' }), 'throttled');
    }
    m.clock.advance('61m');
    await flows.submitIdentifier((await started()).flow, user.login, req);
  });

  it('a reset changes the password and revokes, never touches the methods, forgets the identifier\'s counters, queues the notice', async () => {
    const user = await member();
    const methodsBefore = await m.deps.methodRepo.listVerified(user.id);
    let { flow } = await started();
    flow = await flows.submitIdentifier(flow, user.login, req);
    flow = await flows.submitTarget(await flows.chooseMethod(flow, 'email', req), user.recovery, req);
    await rejects(flows.submitCode(flow, '000000', req), 'code_invalid');
    const failKey = `reset_fail/acct:${user.id}`; // wrong codes count on the account once the id resolves
    assert.equal((await m.deps.throttle.peek(failKey, flows.rules.fail)).count, 1);
    flow = await flows.submitCode(flow, await queuedCode(flow.id), req);
    const epoch = m.state.accounts.get(user.id)!.credentialsEpoch;
    const done = await flows.submitPassword(flow, { password: 'violet tractor lantern oboe', confirmation: 'violet tractor lantern oboe' }, req);
    assert.equal(done.state, 'done');
    assert.equal(await m.deps.directory.verifyPassword(user.id, 'violet tractor lantern oboe'), true);
    assert.equal(m.state.accounts.get(user.id)!.credentialsEpoch, epoch + 1, 'every session, grant and token revoked');
    assert.deepEqual(await m.deps.methodRepo.listVerified(user.id), methodsBefore, 'methods untouched');
    assert.equal((await m.deps.throttle.peek(failKey, flows.rules.fail)).count, 0, 'counters forgotten');
    assert.deepEqual(messagesOf(flow.id, user.recovery).map((o) => ('template' in o ? o.template : null)), ['code.reset', 'notice.password_changed'], 'the code, then the notice');
    await rejects(flows.submitPassword(done, { password: 'another fine password', confirmation: 'another fine password' }, req), 'flow_invalid');
  });
});
