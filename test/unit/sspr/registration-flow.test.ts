import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { ConfigInput } from '../../../src/config/schema.ts';
import { registrationPrompt } from '../../../src/provider/registration-prompt.ts';
import { isSsprError, type SsprErrorCode } from '../../../src/sspr/errors.ts';
import { createAccountSecurity, type AccountSecurity } from '../../../src/sspr/account-security.ts';
import { createRegistrationFlow, type RegistrationFlow } from '../../../src/sspr/flows/registration.ts';
import { createMemorySspr, type MemorySspr } from '../../support/memory-sspr.ts';

const step = { context: { ip: '192.0.2.1', correlationId: 'c-1' }, lang: 'en' as const };

async function rejects(p: Promise<unknown>, code: SsprErrorCode): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isSsprError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

// The domain on in-memory ports (test/support/memory-sspr.ts): no database, no HTTP. The pages
// and both databases are covered by test/http and test/browser.
describe('sspr/flows/registration (in-memory ports)', function () {
  let m: MemorySspr;
  let flows: RegistrationFlow;
  let security: AccountSecurity;

  async function boot(sspr: ConfigInput['sspr']) {
    m = await createMemorySspr(sspr);
    flows = createRegistrationFlow(m.deps);
    security = createAccountSecurity(m.deps, flows);
  }

  describe('transitions', () => {
    before(() => boot({ enabled_for: 'all', methods_required: 1, methods: ['email', 'totp'] }));

    it('validates every step against the stored state', async () => {
      const u = m.seedUser({ login: 'ann' });
      const v = await flows.open({ accountId: u.id, binding: 'uid-1', purpose: 'sign_in', ...step });
      assert.equal(v.state, 'choosing');
      assert.equal((await flows.open({ accountId: u.id, binding: 'uid-1', purpose: 'sign_in', ...step })).id, v.id, 'one live flow per binding');
      await rejects(flows.verify(v.id, u.id, { code: '123456', ...step }), 'flow_invalid');
      await rejects(flows.finish(v.id, u.id, step), 'flow_invalid');
      await rejects(flows.sendCode(v.id, u.id, { target: 'ann@example.org', ...step }), 'flow_invalid');
      await rejects(flows.select(v.id, u.id, { type: 'sms', ...step }), 'method_not_allowed');
      await rejects(flows.select(v.id, 'someone-else', { type: 'email', ...step }), 'not_found');
      await rejects(flows.skip(v.id, u.id, step), 'flow_invalid');

      assert.equal((await flows.select(v.id, u.id, { type: 'email', ...step })).state, 'awaiting_target');
      await rejects(flows.sendCode(v.id, u.id, { target: 'not an address', ...step }), 'method_invalid_target');
      const sent = await flows.sendCode(v.id, u.id, { target: 'Ann@Example.org', ...step });
      assert.equal(sent.state, 'awaiting_code');
      assert.equal(sent.pending?.masked, 'a•••@example.org');
      const done = await flows.verify(v.id, u.id, { code: m.lastCode('ann@example.org'), ...step });
      assert.equal(done.state, 'choosing');
      assert.deepEqual(done.added, ['email']);
      assert.equal(done.canFinish, true);
      assert.equal((await flows.finish(v.id, u.id, step)).state, 'done');
      await rejects(flows.select(v.id, u.id, { type: 'email', ...step }), 'flow_invalid');
      assert.notEqual((await flows.open({ accountId: u.id, binding: 'uid-1', purpose: 'sign_in', ...step })).id, v.id, 'a finished flow is not reopened');
    });

    it('expires a flow after flow_ttl_minutes of inactivity', async () => {
      const u = m.seedUser({ login: 'eve' });
      const v = await flows.open({ accountId: u.id, binding: 'uid-2', purpose: 'sign_in', ...step });
      m.clock.advance('16m');
      await rejects(flows.select(v.id, u.id, { type: 'email', ...step }), 'flow_expired');
      assert.notEqual((await flows.open({ accountId: u.id, binding: 'uid-2', purpose: 'sign_in', ...step })).id, v.id);
    });

    it('enrols TOTP: the secret stays sealed in the flow and a first code confirms it', async () => {
      const u = m.seedUser({ login: 'tia' });
      const v = await flows.open({ accountId: u.id, binding: 'uid-3', purpose: 'sign_in', ...step });
      const e = await flows.select(v.id, u.id, { type: 'totp', ...step });
      assert.equal(e.state, 'awaiting_secret');
      const row = m.state.flows.get(v.id);
      assert.ok(!row!.data.includes(String(e.enrolment!.data.secret)), 'no clear secret in the flow row');
      await rejects(flows.verify(v.id, u.id, { code: '12345', ...step }), 'code_invalid');
      const code = await generate({ secret: String(e.enrolment!.data.secret), epoch: Math.floor(m.clock.now().getTime() / 1000) });
      const ok = await flows.verify(v.id, u.id, { code, ...step });
      assert.deepEqual(ok.methods.map((m) => m.type), ['totp']);
      const [method] = await m.deps.methodRepo.listVerified(u.id);
      assert.equal(method.lastTimeStep, Math.floor(m.clock.now().getTime() / 30_000));
    });
  });

  describe('notices, removal and skipping', () => {
    before(() => boot({ enabled_for: 'all', methods_required: 1, allow_skip: true }));

    it('tells the other registered channels when a method is added or removed, and never goes below the required count', async () => {
      const u = m.seedUser({ login: 'nia', phone: '0612345678' });
      await m.deps.methodRepo.saveVerified({ accountId: u.id, type: 'email', target: 'nia@example.org' });
      const v = await flows.open({ accountId: u.id, binding: 'sess-1', purpose: 'self_service', ...step });
      await flows.select(v.id, u.id, { type: 'sms', ...step });
      await flows.sendCode(v.id, u.id, { target: '+31612345678', ...step });
      await flows.verify(v.id, u.id, { code: m.lastCode('+31612345678'), ...step });
      assert.deepEqual(m.templatesTo('nia@example.org'), ['notice.method_added']);
      assert.deepEqual(m.state.accounts.get(u.id)!.verified, ['phone:0612345678'], 'the profile number (typed nationally) was proven');

      const methods = await m.deps.methodRepo.listVerified(u.id);
      const st = await security.removeMethod(u.id, methods.find((m) => m.type === 'email')!.id, step);
      assert.deepEqual(st.methods.map((m) => m.type), ['sms']);
      await rejects(security.removeMethod(u.id, st.methods[0].id, step), 'method_not_allowed');
      await rejects(security.removeMethod(u.id, 'no-such-method', step), 'not_found');
      const removedNotices = [...m.templatesTo('nia@example.org'), ...m.templatesTo('+31612345678')].filter((t) => t === 'notice.method_removed');
      assert.equal(removedNotices.length, 2, 'both channels hear of the removal');
    });

    it('lets users (never admins) skip when allow_skip is on', async () => {
      const u = m.seedUser({ login: 'sid' });
      const v = await flows.open({ accountId: u.id, binding: 'uid-9', purpose: 'sign_in', ...step });
      assert.equal(v.policy.canSkip, true);
      assert.equal((await flows.skip(v.id, u.id, step)).state, 'done');
      const admin = m.seedUser({ login: 'boss', admin: true });
      const a = await flows.open({ accountId: admin.id, binding: 'uid-10', purpose: 'sign_in', ...step });
      await rejects(flows.skip(a.id, admin.id, step), 'flow_invalid');
      const events = m.state.audit.filter((e) => e.activity === 'sspr.registration.skipped');
      assert.equal(events.length, 1);
    });

    it('refuses a wrong re-entered password on /account/security and accepts the right one', async () => {
      const u = m.seedUser({ login: 'rea' });
      const v = await flows.open({ accountId: u.id, binding: 'sess-2', purpose: 'self_service', ...step });
      assert.equal(await security.reauthenticate(v.id, u.id, 'wrong', step), false);
      assert.equal(await security.reauthenticate(v.id, u.id, u.password, step), true);
      assert.equal((await flows.get(v.id, u.id)).reauthAt?.getTime(), m.clock.now().getTime());
    });
  });

  describe('the register prompt', () => {
    before(() => boot({ enabled_for: 'all', methods_required: 1, reconfirm_after_days: 30, allow_skip: true }));

    async function reasons(accountId: string | undefined, result?: unknown): Promise<string[]> {
      const prompt = registrationPrompt(m.deps);
      const ctx = { oidc: { session: { accountId }, result } };
      const out: string[] = [];
      for (const check of prompt.checks) {
        // The checks only read ctx.oidc.session and ctx.oidc.result.
        if (await check.check(ctx as never)) out.push(check.reason);
      }
      return out;
    }

    it('asks for missing methods, then for reconfirmation once it is due, and lets a skip through', async () => {
      const u = m.seedUser({ login: 'pam' });
      assert.deepEqual(await reasons(undefined), []);
      assert.deepEqual(await reasons(u.id), ['missing_recovery_methods']);
      assert.deepEqual(await reasons(u.id, { register: { skipped: true } }), []);
      await m.deps.methodRepo.saveVerified({ accountId: u.id, type: 'email', target: 'pam@example.org' });
      await m.deps.methodRepo.setConfirmedAt(u.id, m.clock.now());
      assert.deepEqual(await reasons(u.id), []);
      m.clock.advance('31d');
      assert.deepEqual(await reasons(u.id), ['reconfirm_due']);
      const v = await flows.open({ accountId: u.id, binding: 'uid-r', purpose: 'sign_in', ...step });
      assert.equal(v.state, 'reconfirming');
      await flows.reconfirm(v.id, u.id, step);
      assert.deepEqual(await reasons(u.id), []);
    });
  });
});
