import assert from 'node:assert/strict';
import { configSchema, mfaSchema, ssprSchema, type MethodType } from '../../../src/config/schema.ts';
import { combinedAmr, mfaEligibleTypes, mfaRequiredFor } from '../../../src/sspr/mfa-policy.ts';
import { evaluateAccount, type MethodFact } from '../../../src/sspr/policy.ts';
import type { DirectoryAccount } from '../../../src/sspr/ports.ts';

const NOW = new Date('2026-01-01T09:00:00Z');

function account(over: Partial<DirectoryAccount> = {}): DirectoryAccount {
  return {
    id: 'acc-1', login: 'alice', email: null, phone: null, name: null,
    isAdmin: false, disabled: false, groups: [], language: null, passwordChangedAt: null, credentialsEpoch: 0, ...over,
  };
}
const mfa = (over: Record<string, unknown> = {}) => mfaSchema.parse(over);
const verified = (...types: MethodType[]): MethodFact[] => types.map((type) => ({ type, verifiedAt: NOW }));

describe('sspr/mfa-policy', () => {
  describe('the mfa section of the config file', () => {
    it('defaults: nobody, every method, never remembered', () => {
      assert.deepEqual(configSchema.parse({}).mfa, { required_for: 'none', groups: [], methods: ['totp', 'passkey', 'sms', 'email', 'recovery_codes'], remember_days: 0 });
    });
    it('refuses selected without groups, unknown methods, duplicates and unknown keys, naming the key', () => {
      const issues = (input: unknown) => mfaSchema.safeParse(input).error?.issues.map((i) => i.path.join('.')) ?? [];
      assert.deepEqual(issues({ required_for: 'selected' }), ['groups']);
      assert.deepEqual(issues({ methods: ['fax'] }), ['methods.0']);
      assert.deepEqual(issues({ methods: ['totp', 'totp'] }), ['methods']);
      assert.deepEqual(issues({ remember_days: -1 }), ['remember_days']);
      assert.deepEqual(issues({ required: 'all' }), ['']);
    });
  });

  describe('who needs a second factor', () => {
    it('none: nobody, administrators included', () => {
      assert.equal(mfaRequiredFor(account({ isAdmin: true }), mfa()), false);
    });
    it('admins: administrators only; all: everyone; selected: members of the groups — administrators always', () => {
      assert.equal(mfaRequiredFor(account(), mfa({ required_for: 'admins' })), false);
      assert.equal(mfaRequiredFor(account({ isAdmin: true }), mfa({ required_for: 'admins' })), true);
      assert.equal(mfaRequiredFor(account(), mfa({ required_for: 'all' })), true);
      const selected = mfa({ required_for: 'selected', groups: ['payroll'] });
      assert.equal(mfaRequiredFor(account({ groups: ['payroll'] }), selected), true);
      assert.equal(mfaRequiredFor(account({ groups: ['Payroll'] }), selected), false);
      assert.equal(mfaRequiredFor(account({ isAdmin: true }), selected), true);
    });
    it('disabled accounts need nothing (they cannot sign in)', () => {
      assert.equal(mfaRequiredFor(account({ disabled: true }), mfa({ required_for: 'all' })), false);
    });
  });

  it('eligible methods: verified ones that mfa.methods lists, in its order', () => {
    const list = [...verified('email', 'totp'), { type: 'sms' as const, verifiedAt: null }];
    assert.deepEqual(mfaEligibleTypes(list, mfa()), ['totp', 'email']);
    assert.deepEqual(mfaEligibleTypes(list, mfa({ methods: ['sms', 'recovery_codes'] })), []);
  });

  it('amr: the password, the factor, then mfa (RFC 8176); a passkey with user verification is two factors alone', () => {
    assert.deepEqual(combinedAmr(['pwd'], ['otp']), ['pwd', 'otp', 'mfa']);
    assert.deepEqual(combinedAmr(['pwd'], ['sms']), ['pwd', 'sms', 'mfa']);
    assert.deepEqual(combinedAmr(undefined, ['hwk', 'user']), ['hwk', 'user', 'mfa']);
    assert.deepEqual(combinedAmr(['pwd', 'otp', 'mfa'], ['otp']), ['pwd', 'otp', 'mfa']);
  });

  describe('evaluateAccount with MFA', () => {
    const sspr = ssprSchema.parse({ enabled_for: 'all', methods_required: 1 });
    const evaluate = (acc: DirectoryAccount, methods: MethodFact[], m = mfa({ required_for: 'all' }), pol = sspr) =>
      evaluateAccount({ account: acc, methods, confirmedAt: NOW, policy: pol, mfa: m, now: NOW });

    it('an account that signs in with two factors resets with two methods, as an administrator', () => {
      const p = evaluate(account(), verified('totp'));
      assert.equal(p.methodsRequired, 2);
      assert.equal(p.capable, false);
      assert.equal(p.registrationDue, 'too_few_methods');
      assert.equal(evaluate(account(), verified('totp', 'email')).capable, true);
      assert.equal(evaluate(account(), verified('totp'), mfa()).methodsRequired, 1, 'without MFA: the file\'s number');
    });

    it('no method that serves as a second factor: registration is due, whatever the SSPR scope, and cannot be skipped', () => {
      const out = ssprSchema.parse({ enabled_for: 'none', allow_skip: true });
      const p = evaluate(account(), [], mfa({ required_for: 'all' }), out);
      assert.equal(p.inScope, false);
      assert.equal(p.registrationDue, 'no_mfa_method');
      assert.equal(p.registrationRequired, true);
      assert.equal(p.canSkip, false);
      const only = evaluate(account(), verified('email', 'sms'), mfa({ required_for: 'all', methods: ['totp'] }));
      assert.equal(only.registrationDue, 'no_mfa_method');
      assert.ok(only.allowedMethods.includes('totp'), 'the MFA method may be registered even where sspr.methods leaves it out');
      assert.equal(evaluate(account(), verified('email', 'totp'), mfa({ required_for: 'all', methods: ['totp'] })).registrationDue, false);
    });
  });
});
