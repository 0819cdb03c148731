import assert from 'node:assert/strict';
import { createCodeService, type CodeService } from '../../../src/sspr/codes.ts';
import { createCodeHasher } from '../../../src/sspr/crypto.ts';
import { isSsprError, type SsprErrorCode } from '../../../src/sspr/errors.ts';
import type { CodeRow, CodeStore, UnitOfWork } from '../../../src/sspr/ports.ts';
import { createCodeStore } from '../../../src/store/code-store.ts';
import { openStore } from '../../../src/store/index.ts';
import { TestClock } from '../../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable } from '../../support/db.ts';
import { emptyState, memoryCodeStore, memoryUnitOfWork } from '../../support/memory-ports.ts';

const hasher = createCodeHasher(['test-encryption-key-0123456789']);

async function rejects(p: Promise<unknown>, code: SsprErrorCode, params?: Record<string, unknown>): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(isSsprError(err, code), `expected ${code}, got ${String(err)}`);
    if (params) assert.deepEqual(err.params, params);
    return true;
  });
}

/** A code that differs from `code` in every digit, so it can never be the right one by chance. */
const wrong = (code: string) => [...code].map((d) => String((Number(d) + 1) % 10)).join('');

/** A store under test: ours on each database, and the in-memory one the flow tests run on. */
interface Backend {
  store: UnitOfWork;
  codes: CodeStore;
  /** The first stored code of a flow. */
  row(flowId: string): Promise<Pick<CodeRow, 'codeHash' | 'attempts' | 'usedAt'> | null>;
  flowIds(): Promise<string[]>;
  wipe(): Promise<void>;
  close(): Promise<void>;
}

async function backend(dialect: 'sqlite' | 'postgres' | 'memory'): Promise<Backend> {
  if (dialect === 'memory') {
    const state = emptyState();
    return {
      store: memoryUnitOfWork(state),
      codes: memoryCodeStore(state),
      row: async (flowId) => state.codes.find((c) => c.flowId === flowId) ?? null,
      flowIds: async () => state.codes.map((c) => c.flowId),
      wipe: async () => { state.codes = []; },
      close: async () => undefined,
    };
  }
  const db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
  const store = await openStore({ url: db.url });
  const { OneTimeCode } = store.models;
  return {
    store,
    codes: createCodeStore(store),
    row: (flowId) => OneTimeCode.findOne({ where: { flowId } }),
    flowIds: async () => (await OneTimeCode.findAll()).map((r) => r.flowId),
    wipe: async () => { await OneTimeCode.destroy({ where: {} }); },
    close: async () => { await store.close(); await db.drop(); },
  };
}

// The same checks on every store: the in-memory one must count and consume as the SQL does.
for (const dialect of ['sqlite', 'postgres', 'memory'] as const) {
  describe(`sspr/codes on ${dialect}`, function () {
    let b: Backend | undefined;
    let store: UnitOfWork;
    let clock: TestClock;
    let codes: CodeService;
    let n = 0;
    let flow: string;
    const issue = (channel = 'email', flowId = flow, accountId: string | null = 'acc-1') =>
      codes.issue({ purpose: 'reset', flowId, accountId, channel, target: accountId ? 'alice@example.org' : null });

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      b = await backend(dialect);
      store = b.store;
    });
    after(async () => { await b?.close(); });
    beforeEach(() => {
      clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
      codes = createCodeService({ store: b!.codes, clock, hasher, ttlMinutes: 10 });
      flow = `flow-${dialect}-${++n}`;
    });

    it('accepts the issued code once and reports who it was for', async () => {
      const { code, expiresAt } = await issue();
      assert.match(code, /^\d{6}$/);
      assert.equal(expiresAt.toISOString(), '2026-03-01T10:10:00.000Z');
      const res = await codes.check({ flowId: flow, channel: 'email', code });
      assert.deepEqual(res, { ok: true, accountId: 'acc-1', target: 'alice@example.org', purpose: 'reset' });
      await rejects(codes.check({ flowId: flow, channel: 'email', code }), 'code_used');
    });

    it('stores only a hash of the code', async () => {
      const { code } = await issue();
      const row = await b!.row(flow);
      assert.ok(row);
      assert.equal(row.codeHash, hasher.hash(flow, 'email', code));
      assert.ok(!row.codeHash.includes(code));
      assert.equal(row.attempts, 0);
    });

    it('tolerates spaces and dashes typed into the code', async () => {
      const { code } = await issue();
      await codes.check({ flowId: flow, channel: 'email', code: ` ${code.slice(0, 3)} ${code.slice(3)} ` });
    });

    it('counts wrong codes and stops at the limit, even for the right code afterwards', async () => {
      const { code } = await issue();
      for (let left = 4; left >= 1; left--) {
        await rejects(codes.check({ flowId: flow, channel: 'email', code: wrong(code) }), 'code_invalid', { attemptsLeft: left });
      }
      await rejects(codes.check({ flowId: flow, channel: 'email', code: wrong(code) }), 'too_many_attempts');
      await rejects(codes.check({ flowId: flow, channel: 'email', code }), 'too_many_attempts');
      const row = await b!.row(flow);
      assert.equal(row?.attempts, 5);
      assert.equal(row?.usedAt, null);
    });

    it('expires after ttlMinutes on the injected clock', async () => {
      const { code } = await issue();
      clock.advance('10m');
      await rejects(codes.check({ flowId: flow, channel: 'email', code }), 'code_expired');
      const other = `${flow}-b`;
      const { code: second } = await issue('email', other);
      clock.advance(10 * 60_000 - 1);
      await codes.check({ flowId: other, channel: 'email', code: second });
    });

    it('a newer code voids the older one, which then reads as replaced (still a counted wrong code)', async () => {
      const { code: first } = await issue();
      let { code: second } = await issue();
      while (second === first) ({ code: second } = await issue());
      await rejects(codes.check({ flowId: flow, channel: 'email', code: first }), 'code_invalid', { attemptsLeft: 4, replaced: true });
      let wrong = '000000';
      while (wrong === first || wrong === second) wrong = String(Number(wrong) + 1).padStart(6, '0');
      await rejects(codes.check({ flowId: flow, channel: 'email', code: wrong }), 'code_invalid', { attemptsLeft: 3 });
      await codes.check({ flowId: flow, channel: 'email', code: second });
    });

    it('binds a code to its flow and channel', async () => {
      const { code: emailCode } = await issue('email');
      let { code: smsCode } = await issue('sms');
      while (smsCode === emailCode) ({ code: smsCode } = await issue('sms'));
      await rejects(codes.check({ flowId: flow, channel: 'sms', code: emailCode }), 'code_invalid');
      await rejects(codes.check({ flowId: `${flow}-other`, channel: 'email', code: emailCode }), 'code_invalid');
      await codes.check({ flowId: flow, channel: 'email', code: emailCode });
      await codes.check({ flowId: flow, channel: 'sms', code: smsCode });
    });

    it('answers "no code was ever sent" exactly like a first wrong code', async () => {
      let thrownNoCode: unknown;
      await codes.check({ flowId: `${flow}-none`, channel: 'email', code: '123456' }).catch((e: unknown) => { thrownNoCode = e; });
      const { code } = await issue();
      let thrownWrong: unknown;
      await codes.check({ flowId: flow, channel: 'email', code: wrong(code) }).catch((e: unknown) => { thrownWrong = e; });
      assert.ok(isSsprError(thrownNoCode) && isSsprError(thrownWrong));
      assert.equal(thrownNoCode.code, thrownWrong.code);
      assert.equal(thrownNoCode.status, thrownWrong.status);
      assert.equal(thrownNoCode.message, thrownWrong.message);
      assert.deepEqual(thrownNoCode.params, thrownWrong.params);
    });

    it('a decoy code for an unknown account behaves like a real one', async () => {
      const { code } = await issue('email', flow, null);
      const res = await codes.check({ flowId: flow, channel: 'email', code });
      assert.deepEqual(res, { ok: true, accountId: null, target: null, purpose: 'reset' });
    });

    it('never counts more than maxAttempts under concurrent guesses', async () => {
      const { code } = await issue();
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, () => codes.check({ flowId: flow, channel: 'email', code: wrong(code) })),
      );
      const byCode = new Map<string, number>();
      for (const r of results) {
        assert.equal(r.status, 'rejected');
        const err: unknown = r.reason;
        assert.ok(isSsprError(err));
        byCode.set(err.code, (byCode.get(err.code) ?? 0) + 1);
      }
      // Counted guesses that read the count after the others report what is left then (possibly 0);
      // guesses beyond the cap are refused before comparing.
      assert.deepEqual([...byCode.keys()].filter((c) => c !== 'code_invalid' && c !== 'too_many_attempts'), []);
      assert.ok((byCode.get('too_many_attempts') ?? 0) >= 15, JSON.stringify([...byCode]));
      const row = await b!.row(flow);
      assert.equal(row?.attempts, 5);
    });

    it('accepts the right code once under concurrent submissions', async () => {
      const { code } = await issue();
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () => codes.check({ flowId: flow, channel: 'email', code })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) {
        if (r.status === 'rejected') assert.ok(isSsprError(r.reason, 'code_used') || isSsprError(r.reason, 'code_invalid'), String(r.reason));
      }
    });

    it('keeps the attempt when the caller passes a transaction and commits', async () => {
      const { code } = await issue();
      await store.transaction(async (t) => {
        await rejects(codes.check({ flowId: flow, channel: 'email', code: wrong(code) }, t), 'code_invalid');
      });
      const row = await b!.row(flow);
      assert.equal(row?.attempts, 1);
    });

    it('purges expired codes only', async () => {
      await b!.wipe();
      await issue('email', `${flow}-old`);
      clock.advance('5m');
      await issue('email', `${flow}-new`);
      clock.advance('6m');
      assert.equal(await codes.purgeExpired(), 1);
      assert.deepEqual(await b!.flowIds(), [`${flow}-new`]);
    });

    it('validates its options', () => {
      assert.throws(() => createCodeService({ store: b!.codes, clock, hasher, ttlMinutes: 10, length: 4 }), /length/);
      assert.throws(() => createCodeService({ store: b!.codes, clock, hasher, ttlMinutes: 0 }), /ttlMinutes/);
      assert.throws(() => createCodeService({ store: b!.codes, clock, hasher, ttlMinutes: 10, maxAttempts: 0 }), /maxAttempts/);
    });
  });
}
