import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generate } from 'otplib';
import type { App } from '../../../src/app.ts';
import type { MethodType } from '../../../src/config/schema.ts';
import { isSsprError, type SsprErrorCode } from '../../../src/sspr/errors.ts';
import { advance, createResetFlow, type ResetFlowService, type ResetFlowState, type ResetRequest } from '../../../src/sspr/flows/reset.ts';
import { TestClock } from '../../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../../support/db.ts';
import { startTestServer, type TestServer } from '../../support/server.ts';
import { seedUser } from '../../support/users.ts';
import { methodRegistry } from '../../../src/sspr/methods/index.ts';
import { totpSecret, typedMethods } from '../../support/methods.ts';

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

describe('sspr/flows/reset service (SQLite, test clock)', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let app: App;
  let clock: TestClock;
  let flows: ResetFlowService;
  let n = 0;
  let ipN = 0;
  let req: ResetRequest;
  const unique = (p: string) => `${p}${++n}`;
  const codesByFlow = new Map<string, string>();

  before(async () => {
    clock = new TestClock();
    db = createSqliteDatabase();
    // Scope: only the `sspr` group (so out-of-scope accounts exist); admins are in scope anyway.
    srv = await startTestServer({ database: db.url, clock, overrides: {
      delivery: { outbox_dir: join(db.dir, 'outbox') },
      sspr: { enabled_for: 'selected', groups: ['sspr'] },
    } });
    app = srv.app;
    // The methods queue through this very object, so wrapping its property sees every code message.
    const delivery = app.sspr.delivery;
    const enqueue = delivery.enqueueMessage.bind(delivery);
    delivery.enqueueMessage = (input, t) => {
      const params = input.params as { code?: string };
      if (params.code && input.correlationId) codesByFlow.set(input.correlationId, params.code);
      return enqueue(input, t);
    };
    flows = createResetFlow(app.sspr, { startRule: { max: 3, windowMs: 3_600_000, blockMs: 0 } });
  });
  after(async () => { await srv?.close(); await db?.drop(); });
  // A fresh IP per test: the per-IP counters of one test do not reach into the next.
  beforeEach(() => { req = { ip: `192.0.2.${++ipN}`, lang: 'en' }; });

  async function started(): Promise<{ flow: ResetFlowState; cookie: string }> {
    return flows.start({ interactionUid: null, lang: 'en' });
  }

  async function member(extra: { groups?: string[]; admin?: boolean } = {}) {
    const user = await seedUser(app, { login: unique('u'), groups: extra.groups ?? ['sspr'], admin: extra.admin });
    const recovery = `${user.login}@recovery.example.net`;
    await app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
    return { ...user, recovery };
  }

  /** The code the flow's last code message carried (captured as it was queued: the worker scrubs sent bodies). */
  async function queuedCode(flowId: string): Promise<string> {
    const code = codesByFlow.get(flowId);
    assert.ok(code, 'a code message was queued');
    return code;
  }

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
    clock.advance(`${app.config.sspr.flow_ttl_minutes}m`);
    await rejects(flows.load(cookie, null), 'flow_expired');
  });

  it('starting a flow writes nothing: the first row is written by the identifier step', async () => {
    const { Flow } = app.store.models;
    const before = await Flow.count();
    const { flow, cookie } = await started();
    assert.equal(await Flow.count(), before, 'start() stored nothing');
    const loaded = await flows.load(cookie, null);
    await flows.submitIdentifier(loaded, unique('nobody'), req);
    assert.equal(await Flow.count(), before + 1);
    await rejects(flows.submitIdentifier(loaded, unique('nobody'), req), 'flow_invalid');
    assert.equal(flow.id, loaded.id);
  });

  it('an out-of-scope account takes the same path as an unknown one: a code is issued, none sent, never past the code step', async () => {
    const outside = await member({ groups: [] });
    const { Delivery, OneTimeCode } = app.store.models;
    for (const login of [outside.login, unique('nobody')]) {
      let { flow } = await started();
      flow = await flows.submitIdentifier(flow, login, req);
      assert.equal(flow.accountId, null);
      flow = await flows.chooseMethod(flow, 'email', req);
      flow = await flows.submitTarget(flow, outside.recovery, req);
      assert.equal(flow.state, 'awaiting_code');
      assert.equal(await OneTimeCode.count({ where: { flowId: flow.id } }), 1);
      assert.equal(await Delivery.count({ where: { correlationId: flow.id } }), 0);
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
    await app.store.models.Account.update({ disabled: true }, { where: { id: user.id } });
    await rejects(flows.submitPassword(flow, { password: 'violet tractor lantern oboe', confirmation: 'violet tractor lantern oboe' }, req), 'flow_invalid');
    assert.equal(await app.directory.verifyPassword(user.id, user.password), false, 'disabled: no password sign-in anyway');
    await app.store.models.Account.update({ disabled: false }, { where: { id: user.id } });
    assert.equal(await app.directory.verifyPassword(user.id, user.password), true, 'the password did not change');
  });

  it('unknown and known identifiers do the same TOTP work, and a TOTP code is refused on replay', async () => {
    const user = await member({ admin: true });
    const e = await totpSecret(app, 't');
    await app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'totp', secretEnc: e.secretEnc });
    let verifications = 0;
    const totp = typedMethods(app.sspr.methods).totp;
    const counted = { ...totp, prove: (...a: Parameters<typeof totp.prove>) => { verifications++; return totp.prove(...a); } };
    const counting = createResetFlow({ ...app.sspr, methods: methodRegistry(app.sspr.methods.all.map((m) => (m.id === 'totp' ? counted : m))) });
    const code = await generate({ secret: e.secret, epoch: Math.floor(clock.now().getTime() / 1000) });
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
    clock.advance('61m');
    await flows.submitIdentifier((await started()).flow, user.login, req);
  });

  it('a reset changes the password and revokes, never touches the methods, forgets the identifier\'s counters, queues the notice', async () => {
    const user = await member();
    const methodsBefore = await app.sspr.methodRepo.listVerified(user.id);
    let { flow } = await started();
    flow = await flows.submitIdentifier(flow, user.login, req);
    flow = await flows.submitTarget(await flows.chooseMethod(flow, 'email', req), user.recovery, req);
    await rejects(flows.submitCode(flow, '000000', req), 'code_invalid');
    const failKey = `reset_fail/acct:${user.id}`; // wrong codes count on the account once the id resolves
    assert.equal((await app.sspr.throttle.peek(failKey, flows.rules.fail)).count, 1);
    flow = await flows.submitCode(flow, await queuedCode(flow.id), req);
    await app.store.models.OidcPayload.create({ model: 'Session', id: unique('s'), payload: '{}', grantId: null, userCode: null, uid: null, accountId: user.id, expiresAt: null, consumedAt: null });
    const done = await flows.submitPassword(flow, { password: 'violet tractor lantern oboe', confirmation: 'violet tractor lantern oboe' }, req);
    assert.equal(done.state, 'done');
    assert.equal(await app.directory.verifyPassword(user.id, 'violet tractor lantern oboe'), true);
    assert.equal(await app.store.models.OidcPayload.count({ where: { accountId: user.id } }), 0, 'every session, grant and token revoked');
    assert.deepEqual(await app.sspr.methodRepo.listVerified(user.id), methodsBefore, 'methods untouched');
    assert.equal((await app.sspr.throttle.peek(failKey, flows.rules.fail)).count, 0, 'counters forgotten');
    const notices = await app.store.models.Delivery.findAll({ where: { correlationId: flow.id, recipient: user.recovery } });
    assert.equal(notices.length, 2, 'the code, then the notice');
    await rejects(flows.submitPassword(done, { password: 'another fine password', confirmation: 'another fine password' }, req), 'flow_invalid');
  });
});
