import assert from 'node:assert/strict';
import { ssprSchema, type MethodType, type SsprPolicyConfig } from '../../../src/config/schema.ts';
import { evaluateAccount, type MethodFact } from '../../../src/sspr/policy.ts';
import type { DirectoryAccount } from '../../../src/sspr/ports.ts';
import { TestClock } from '../../support/clock.ts';

const START = new Date('2026-01-01T09:00:00Z');

function account(over: Partial<DirectoryAccount> = {}): DirectoryAccount {
  return {
    id: 'acc-1', login: 'alice', email: 'alice@example.org', phone: null, name: null,
    isAdmin: false, disabled: false, groups: [], language: null, passwordChangedAt: null, credentialsEpoch: 0, ...over,
  };
}
const policy = (over: Record<string, unknown> = {}): SsprPolicyConfig => ssprSchema.parse(over);
const verified = (...types: MethodType[]): MethodFact[] => types.map((type) => ({ type, verifiedAt: START }));

describe('sspr/policy evaluateAccount', () => {
  let clock: TestClock;
  beforeEach(() => { clock = new TestClock(START); });
  const evaluate = (acc: DirectoryAccount, methods: MethodFact[], pol: SsprPolicyConfig, confirmedAt: Date | null = START) =>
    evaluateAccount({ account: acc, methods, confirmedAt, policy: pol, now: clock.now() });

  describe('scope', () => {
    it('none: nobody but administrators', () => {
      assert.equal(evaluate(account(), [], policy({ enabled_for: 'none' })).inScope, false);
      assert.equal(evaluate(account({ isAdmin: true }), [], policy({ enabled_for: 'none' })).inScope, true);
    });
    it('selected: members of any listed group, matched by name', () => {
      const pol = policy({ enabled_for: 'selected', groups: ['sales', 'support'] });
      assert.equal(evaluate(account({ groups: ['support'] }), [], pol).inScope, true);
      assert.equal(evaluate(account({ groups: ['engineering', 'sales'] }), [], pol).inScope, true);
      assert.equal(evaluate(account({ groups: ['engineering'] }), [], pol).inScope, false);
      assert.equal(evaluate(account({ groups: [] }), [], pol).inScope, false);
      assert.equal(evaluate(account({ groups: [], isAdmin: true }), [], pol).inScope, true);
    });
    it('all: everyone', () => {
      assert.equal(evaluate(account(), [], policy()).inScope, true);
    });
    it('disabled accounts are never in scope, administrators included', () => {
      for (const isAdmin of [false, true]) {
        const r = evaluate(account({ disabled: true, isAdmin }), verified('email'), policy());
        assert.deepEqual([r.inScope, r.registrationRequired, r.registrationDue, r.capable, r.canSkip], [false, false, false, false, false]);
      }
    });
    it('out of scope: nothing is due and nothing is asked', () => {
      const r = evaluate(account(), [], policy({ enabled_for: 'none' }));
      assert.deepEqual([r.registrationRequired, r.registrationDue, r.capable, r.reconfirmDueAt], [false, false, false, null]);
    });
  });

  describe('methods', () => {
    it('one method required: any one verified allowed type is enough', () => {
      const r = evaluate(account(), verified('sms'), policy());
      assert.deepEqual([r.methodsRequired, r.capable, r.registrationDue, r.registrationRequired], [1, true, false, false]);
    });
    it('unverified methods do not count', () => {
      const r = evaluate(account(), [{ type: 'email', verifiedAt: null }], policy());
      assert.deepEqual([r.capable, r.registrationDue, r.registrationRequired], [false, 'no_methods', true]);
    });
    it('two methods means two different types', () => {
      const pol = policy({ methods_required: 2 });
      const twoEmails = evaluate(account(), verified('email', 'email'), pol);
      assert.deepEqual([twoEmails.capable, twoEmails.registrationDue], [false, 'too_few_methods']);
      const emailAndTotp = evaluate(account(), verified('email', 'totp'), pol);
      assert.deepEqual([emailAndTotp.capable, emailAndTotp.registrationDue, emailAndTotp.verifiedTypes], [true, false, ['email', 'totp']]);
    });
    it('only types the policy allows count', () => {
      const pol = policy({ methods: ['email', 'totp'], methods_required: 2 });
      const r = evaluate(account(), verified('email', 'sms'), pol);
      assert.deepEqual(r.allowedMethods, ['email', 'totp']);
      assert.deepEqual(r.verifiedTypes, ['email']);
      assert.equal(r.registrationDue, 'too_few_methods');
    });
    it('raising methods_required from 1 to 2 interrupts users with one method', () => {
      assert.equal(evaluate(account(), verified('email'), policy({ methods_required: 1 })).registrationRequired, false);
      const r = evaluate(account(), verified('email'), policy({ methods_required: 2 }));
      assert.deepEqual([r.registrationRequired, r.registrationDue], [true, 'too_few_methods']);
    });
  });

  describe('administrators', () => {
    const admin = account({ isAdmin: true });
    it('need two types, may use every type and must register whatever the file says', () => {
      const pol = policy({ enabled_for: 'none', methods: ['email'], methods_required: 1, require_registration_at_sign_in: false, allow_skip: true });
      const one = evaluate(admin, verified('email'), pol);
      assert.deepEqual([one.inScope, one.methodsRequired, one.registrationRequired, one.registrationDue, one.canSkip],
        [true, 2, true, 'too_few_methods', false]);
      assert.deepEqual(one.allowedMethods, ['email', 'sms', 'totp', 'recovery_codes', 'passkey']);
      const two = evaluate(admin, verified('sms', 'totp'), pol);
      assert.deepEqual([two.capable, two.registrationRequired, two.registrationDue], [true, false, false]);
    });
    it('are reconfirmed even when registration at sign-in is off for users', () => {
      const pol = policy({ require_registration_at_sign_in: false, reconfirm_after_days: 30 });
      clock.advance('30d');
      assert.equal(evaluate(admin, verified('email', 'sms'), pol).registrationDue, 'reconfirm_due');
      assert.equal(evaluate(account(), verified('email'), pol).registrationDue, false);
    });
  });

  describe('registration at sign-in and skipping', () => {
    it('require_registration_at_sign_in false: due (for reports) but not prompted', () => {
      const r = evaluate(account(), [], policy({ require_registration_at_sign_in: false }));
      assert.deepEqual([r.registrationDue, r.registrationRequired, r.canSkip], ['no_methods', false, false]);
    });
    it('allow_skip lets users, never administrators, answer "Not now"', () => {
      const pol = policy({ allow_skip: true });
      assert.equal(evaluate(account(), [], pol).canSkip, true);
      assert.equal(evaluate(account({ isAdmin: true }), [], pol).canSkip, false);
      assert.equal(evaluate(account(), [], policy({ allow_skip: false })).canSkip, false);
      assert.equal(evaluate(account(), verified('email'), pol).canSkip, false, 'nothing to skip when nothing is due');
    });
  });

  describe('reconfirm', () => {
    it('is due at confirmedAt + reconfirm_after_days, on the moved clock', () => {
      const pol = policy({ reconfirm_after_days: 180 });
      const r = evaluate(account(), verified('email'), pol);
      assert.equal(r.reconfirmDueAt?.toISOString(), '2026-06-30T09:00:00.000Z');
      assert.equal(r.registrationDue, false);
      clock.advance('179d');
      clock.advance('23h');
      assert.equal(evaluate(account(), verified('email'), pol).registrationDue, false);
      clock.advance('1h');
      const due = evaluate(account(), verified('email'), pol);
      assert.deepEqual([due.registrationDue, due.registrationRequired, due.capable], ['reconfirm_due', true, true]);
    });
    it('0 means never', () => {
      clock.advance('2000d');
      const r = evaluate(account(), verified('email'), policy({ reconfirm_after_days: 0 }));
      assert.deepEqual([r.reconfirmDueAt, r.registrationDue], [null, false]);
    });
    it('only applies with registration at sign-in', () => {
      clock.advance('200d');
      const r = evaluate(account(), verified('email'), policy({ reconfirm_after_days: 180, require_registration_at_sign_in: false }));
      assert.deepEqual([r.reconfirmDueAt, r.registrationDue], [null, false]);
    });
    it('counts from the latest verification when nothing was confirmed yet', () => {
      const methods: MethodFact[] = [
        { type: 'email', verifiedAt: new Date('2026-01-01T09:00:00Z') },
        { type: 'totp', verifiedAt: new Date('2026-02-01T09:00:00Z') },
      ];
      const r = evaluate(account(), methods, policy({ reconfirm_after_days: 10 }), null);
      assert.equal(r.reconfirmDueAt?.toISOString(), '2026-02-11T09:00:00.000Z');
    });
    it('missing methods take precedence over reconfirming', () => {
      clock.advance('400d');
      assert.equal(evaluate(account(), verified('email'), policy({ methods_required: 2 })).registrationDue, 'too_few_methods');
    });
  });
});
