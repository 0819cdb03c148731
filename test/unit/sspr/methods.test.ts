import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { configSchema } from '../../../src/config/schema.ts';
import type { DeliveryPort, MessageInput, Template } from '../../../src/delivery/index.ts';
import { createCodeService } from '../../../src/sspr/codes.ts';
import { createCodeHasher, createSecretBox } from '../../../src/sspr/crypto.ts';
import { isSsprError, type SsprErrorCode } from '../../../src/sspr/errors.ts';
import { createMethods, maskEmail, maskPhone, type MethodRepository } from '../../../src/sspr/methods/index.ts';
import { createCodeStore } from '../../../src/store/code-store.ts';
import { typedMethods } from '../../support/methods.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { createMethodRepository } from '../../../src/store/method-repository.ts';
import { createChallengeStore, createPasskeyRepository } from '../../../src/store/passkey-repository.ts';
import { TestClock } from '../../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../../support/db.ts';

const KEYS = ['test-encryption-key-0123456789ab'];

async function rejects(p: Promise<unknown> | (() => unknown), code: SsprErrorCode): Promise<void> {
  const run = typeof p === 'function' ? (async () => p())() : p;
  await assert.rejects(run, (err: unknown) => {
    assert.ok(isSsprError(err, code), `expected ${code}, got ${String(err)}`);
    return true;
  });
}

describe('sspr/methods', function () {
  let db: TestDatabase;
  let store: Store;
  let clock: TestClock;
  let methods: ReturnType<typeof typedMethods>;
  let repo: MethodRepository;
  let sent: MessageInput<Template>[];
  let n = 0;
  const config = configSchema.parse({ issuer: 'https://id.example.org', secrets: { cookie_keys: ['k'.repeat(32)], encryption_keys: KEYS } });

  before(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
  });
  after(async () => { await store?.close(); await db?.drop(); });
  beforeEach(() => {
    clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
    sent = [];
    const delivery = {
      async enqueueMessage(m: MessageInput<Template>) { sent.push(m); return `d${sent.length}`; },
      async enqueue() { return 'd'; },
    } as unknown as DeliveryPort; // a recording stand-in: the queue has its own tests
    const codes = createCodeService({ store: createCodeStore(store), clock, hasher: createCodeHasher(KEYS), ttlMinutes: 10 });
    repo = createMethodRepository({ store, clock });
    const passkeys = { repo: createPasskeyRepository(store), challenges: createChallengeStore(store), audit: { record: async () => {} } };
    methods = typedMethods(createMethods({ config, codes, delivery, secretBox: createSecretBox(KEYS), clock, methodRepo: repo, passkeys }));
  });

  async function account(): Promise<string> {
    const id = `acc-${++n}`;
    await store.models.Account.create({ id, login: `user${n}` });
    return id;
  }

  describe('email', () => {
    it('normalises and refuses bad addresses', async () => {
      assert.equal(methods.email.normaliseTarget('  Alice@Example.ORG '), 'alice@example.org');
      for (const bad of ['', 'alice', 'alice@', '@example.org', 'a@b', 'a b@example.org', 'a@@example.org', `${'a'.repeat(320)}@example.org`, 'a@example.123']) {
        await rejects(() => methods.email.normaliseTarget(bad), 'method_invalid_target');
      }
    });

    it('sends a registration code to a real target and accepts it once', async () => {
      await methods.email.sendCode({ flowId: 'f-email', purpose: 'registration', accountId: 'acc-x', target: 'alice@example.org', lang: 'nl', name: 'Alice' });
      assert.equal(sent.length, 1);
      assert.equal(sent[0].template, 'code.registration');
      assert.equal(sent[0].to, 'alice@example.org');
      assert.equal(sent[0].lang, 'nl');
      const code = (sent[0].params as { code: string }).code;
      await rejects(methods.email.verifyCode({ flowId: 'f-email', code: code === '000000' ? '111111' : '000000' }), 'code_invalid');
      assert.deepEqual(await methods.email.verifyCode({ flowId: 'f-email', code }), { accountId: 'acc-x', target: 'alice@example.org' });
      await rejects(methods.email.verifyCode({ flowId: 'f-email', code }), 'code_used');
    });

    it('issues but sends nothing for an unknown account, and uses the reset template for resets', async () => {
      await methods.email.sendCode({ flowId: 'f-unknown', purpose: 'reset', accountId: null, target: null, lang: 'en' });
      assert.equal(sent.length, 0);
      await rejects(methods.email.verifyCode({ flowId: 'f-unknown', code: '123456' }), 'code_invalid');
      await methods.email.sendCode({ flowId: 'f-reset', purpose: 'reset', accountId: 'a', target: 'a@example.org', lang: 'en' });
      assert.equal(sent[0].template, 'code.reset');
    });

    it('masks', () => {
      assert.equal(maskEmail('alice@example.org'), 'a•••@example.org');
      assert.equal(methods.email.mask('bob@example.org'), 'b•••@example.org');
    });
  });

  describe('sms', () => {
    it('normalises to E.164 with the default region and refuses other countries', async () => {
      assert.equal(methods.sms.normaliseTarget('06 12345678'), '+31612345678');
      assert.equal(methods.sms.normaliseTarget('+32 470 12 34 56'), '+32470123456');
      await rejects(() => methods.sms.normaliseTarget('+1 202 555 0123'), 'method_invalid_target');
      await rejects(() => methods.sms.normaliseTarget('12'), 'method_invalid_target');
      await rejects(() => methods.sms.normaliseTarget('not a number'), 'method_invalid_target');
    });

    it('sends by SMS and masks all but the last two digits', async () => {
      await methods.sms.sendCode({ flowId: 'f-sms', purpose: 'registration', accountId: 'a', target: '+31612345678', lang: 'en' });
      assert.equal(sent[0].channel, 'sms');
      const code = (sent[0].params as { code: string }).code;
      assert.equal((await methods.sms.verifyCode({ flowId: 'f-sms', code })).target, '+31612345678');
      assert.equal(maskPhone('+31612345678'), '+31 •••••••78');
      assert.ok(!methods.sms.mask('+31612345678').includes('612345'));
    });

    it('refuses an expired code', async () => {
      await methods.sms.sendCode({ flowId: 'f-sms-exp', purpose: 'registration', accountId: 'a', target: '+31612345678', lang: 'en' });
      clock.advance('11m');
      await rejects(methods.sms.verifyCode({ flowId: 'f-sms-exp', code: (sent[0].params as { code: string }).code }), 'code_expired');
    });
  });

  describe('totp', () => {
    it('enrols with a QR code, verifies a code of the moment and refuses its replay with the same error', async () => {
      const enrolment = await methods.totp.enrol('alice');
      const e = { secret: String(enrolment.view.data.secret), secretEnc: enrolment.pending, uri: String(enrolment.view.data.uri), qr: String(enrolment.view.data.qrDataUri) };
      assert.match(e.uri, /^otpauth:\/\/totp\//);
      assert.match(Buffer.from(e.qr.replace(/^data:image\/svg\+xml;base64,/, ''), 'base64').toString(), /^<svg/);
      assert.ok(!e.secretEnc.includes(e.secret));
      const epoch = Math.floor(clock.now().getTime() / 1000);
      const code = await generate({ secret: e.secret, epoch });
      const step = await methods.totp.verify(e.secretEnc, code, null);
      assert.equal(step, Math.floor(epoch / 30));
      await rejects(methods.totp.verify(e.secretEnc, code, step), 'code_invalid');
      const other = code === '000000' ? '000001' : '000000';
      await rejects(methods.totp.verify(e.secretEnc, other, null), 'code_invalid');
      await rejects(methods.totp.verify(e.secretEnc, 'abc', null), 'code_invalid');
      clock.advance('30s');
      const next = await generate({ secret: e.secret, epoch: epoch + 30 });
      assert.equal(await methods.totp.verify(e.secretEnc, next, step), step + 1);
    });
  });

  describe('repository', () => {
    it('saves one method per type, lists verified ones and removes by owner only', async () => {
      const a = await account();
      const first = await repo.saveVerified({ accountId: a, type: 'email', target: 'old@example.org' });
      await repo.saveVerified({ accountId: a, type: 'email', target: 'new@example.org' });
      await repo.saveVerified({ accountId: a, type: 'totp', secretEnc: 'sealed', lastTimeStep: 7 });
      const list = await repo.listVerified(a);
      assert.deepEqual(list.map((m) => [m.type, m.target]), [['email', 'new@example.org'], ['totp', null]]);
      assert.equal(list[1].lastTimeStep, 7);
      assert.ok(list[0].verifiedAt instanceof Date);
      assert.equal(await repo.remove(a, first.id), null, 'the replaced method is gone');
      assert.equal(await repo.remove('someone-else', list[0].id), null);
      assert.equal((await repo.remove(a, list[0].id))?.type, 'email');
      assert.equal((await repo.listVerified(a)).length, 1);
    });

    it('advances the TOTP time step only forwards', async () => {
      const a = await account();
      const m = await repo.saveVerified({ accountId: a, type: 'totp', secretEnc: 'sealed', lastTimeStep: null });
      assert.equal(await repo.advanceTimeStep(m.id, 10), true);
      assert.equal(await repo.advanceTimeStep(m.id, 10), false);
      assert.equal(await repo.advanceTimeStep(m.id, 9), false);
      assert.equal(await repo.advanceTimeStep(m.id, 11), true);
    });

    it('keeps confirmedAt per account id, also for ids the accounts table does not know', async () => {
      assert.equal(await repo.confirmedAt('host-account-1'), null);
      const when = clock.now();
      await repo.setConfirmedAt('host-account-1', when);
      assert.equal((await repo.confirmedAt('host-account-1'))?.getTime(), when.getTime());
      await repo.setConfirmedAt('host-account-1', null);
      assert.equal(await repo.confirmedAt('host-account-1'), null);
    });
  });
});
