import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { QueryTypes } from 'sequelize';
import { createAuditLog } from '../../../src/audit/index.ts';
import {
  AccessPassError, createAccessPassService, normalisePass, PASS_ALPHABET,
  type AccessPassRepository, type AccessPassService,
} from '../../../src/sspr/access-pass.ts';
import { createCodeHasher, type CodeHasher } from '../../../src/sspr/crypto.ts';
import { createAccessPassRepository } from '../../../src/store/access-pass-repository.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { TestClock } from '../../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../../support/db.ts';

const KEYS = ['test-encryption-key-0123456789'];
const POLICY = { enabled: true, max_minutes: 1440 };

/** Counts the work a check does: HMACs, comparisons, queries and writes. */
function counting(repository: AccessPassRepository, hasher: CodeHasher) {
  const work = { hash: 0, equals: 0, latest: 0, consume: 0 };
  return {
    work,
    repository: {
      ...repository,
      latest: (...a: Parameters<AccessPassRepository['latest']>) => { work.latest++; return repository.latest(...a); },
      consume: (...a: Parameters<AccessPassRepository['consume']>) => { work.consume++; return repository.consume(...a); },
    },
    hasher: {
      hash: (...a: Parameters<CodeHasher['hash']>) => { work.hash++; return hasher.hash(...a); },
      equals: (...a: Parameters<CodeHasher['equals']>) => { work.equals++; return hasher.equals(...a); },
    },
  };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`sspr/access-pass (Temporary Access Pass) on ${dialect}`, function () {
    let db: TestDatabase;
    let store: Store;
    let clock: TestClock;
    let taps: AccessPassService;
    let n = 0;
    let account: string;
    const make = (policy = POLICY) => createAccessPassService({
      repository: createAccessPassRepository(store), clock, hasher: createCodeHasher(KEYS), policy, audit: createAuditLog(store, clock),
    });

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      store = await openStore({ url: db.url });
    });
    after(async () => { await store?.close(); await db?.drop(); });
    beforeEach(() => {
      clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
      taps = make();
      account = `acc-${dialect}-${++n}`;
    });

    it('issues 12 unambiguous random characters, grouped for reading, one use and 60 minutes by default', async () => {
      const issued = await taps.issue(account, { actor: 'cli:helpdesk' });
      assert.match(issued.pass, new RegExp(`^[${PASS_ALPHABET}]{4}-[${PASS_ALPHABET}]{4}-[${PASS_ALPHABET}]{4}$`));
      assert.doesNotMatch(issued.pass, /[ilo01]/);
      assert.equal(issued.oneTime, true);
      assert.equal(issued.expiresAt.toISOString(), '2026-03-01T11:00:00.000Z');
      const other = await taps.issue(`${account}-b`, { actor: 'cli:helpdesk' });
      assert.notEqual(other.pass, issued.pass);
    });

    it('a pass is stored only as a keyed hash: the clear pass is in no row and no database file', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk', target: 'alice' });
      const spellings = [pass, normalisePass(pass), pass.toUpperCase(), normalisePass(pass).toUpperCase()];
      for (const table of ['access_passes', 'audit_events']) {
        const rows = JSON.stringify(await store.sequelize.query(`SELECT * FROM ${table}`, { type: QueryTypes.SELECT }));
        for (const s of spellings) assert.ok(!rows.includes(s), `${table} holds the pass as ${s}`);
      }
      const [row] = await store.sequelize.query<{ pass_hash: string }>('SELECT pass_hash FROM access_passes WHERE account_id = $1', { bind: [account], type: QueryTypes.SELECT });
      assert.match(row.pass_hash, /^[0-9a-f]{64}$/);
      // Without the key the hash is useless: an unkeyed SHA-256 of the pass is not what is stored.
      const { createHash } = await import('node:crypto');
      assert.notEqual(row.pass_hash, createHash('sha256').update(normalisePass(pass)).digest('hex'));
      if (dialect === 'sqlite') {
        const file = db.url.slice('sqlite:'.length);
        for (const f of [file, `${file}-wal`].filter((x) => existsSync(x))) {
          const bytes = readFileSync(f);
          for (const s of spellings) assert.equal(bytes.indexOf(Buffer.from(s)), -1, `${f} holds ${s}`);
        }
      }
    });

    it('a one-time pass works once, whatever its case, spaces and dashes', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk' });
      const typed = ` ${normalisePass(pass).toUpperCase().replace(/(.{3})/g, '$1 ')}`;
      assert.deepEqual(await taps.check(account, typed), { ok: true, passId: (await createAccessPassRepository(store).latest(account))?.id, oneTime: true });
      assert.deepEqual(await taps.check(account, pass), { ok: false, reason: 'used' });
      assert.equal(await taps.verify(account, pass), false);
    });

    it('single use under 20 concurrent verifies: exactly one is true', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk' });
      const results = await Promise.all(Array.from({ length: 20 }, () => taps.verify(account, pass)));
      assert.equal(results.filter(Boolean).length, 1, `accepted ${results.filter(Boolean).length} times`);
    });

    it('single use under 20 concurrent verifies, each in its own transaction: exactly one is true', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk' });
      const results = await Promise.all(Array.from({ length: 20 }, () => store.transaction((t) => taps.verify(account, pass, t))));
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('a reusable pass works more than once, until it expires', async () => {
      const { pass, oneTime } = await taps.issue(account, { actor: 'cli:helpdesk', reusable: true, minutes: 30 });
      assert.equal(oneTime, false);
      assert.equal(await taps.verify(account, pass), true);
      assert.equal(await taps.verify(account, pass), true);
      clock.advance('30m');
      assert.deepEqual(await taps.check(account, pass), { ok: false, reason: 'expired' });
    });

    it('housekeeping deletes only the passes whose lifetime is over', async () => {
      const gone = await taps.issue(account, { actor: 'cli:helpdesk', minutes: 10 });
      const kept = await taps.issue(`${account}-b`, { actor: 'cli:helpdesk', minutes: 20 });
      clock.advance('15m');
      assert.ok(await taps.purgeExpired() >= 1);
      assert.deepEqual(await taps.check(account, gone.pass), { ok: false, reason: 'no_pass' });
      assert.equal(await taps.verify(`${account}-b`, kept.pass), true);
    });

    it('an expired pass is refused', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk', minutes: 10 });
      clock.advance('9m');
      clock.advance('60s');
      assert.deepEqual(await taps.check(account, pass), { ok: false, reason: 'expired' });
    });

    it('a revoked pass is refused, and revoking is audited', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk', reusable: true });
      assert.deepEqual(await taps.revoke(account, { actor: 'cli:helpdesk', target: 'alice' }), { revoked: 1 });
      assert.deepEqual(await taps.check(account, pass), { ok: false, reason: 'revoked' });
      const event = await store.models.AuditEvent.findOne({ where: { activity: 'admin.tap_revoked', targetAccountId: account } });
      assert.equal(event?.actor, 'cli:helpdesk');
      assert.deepEqual(await taps.revoke(account, { actor: 'cli:helpdesk' }), { revoked: 0 });
    });

    it('a new pass revokes the older one', async () => {
      const first = await taps.issue(account, { actor: 'cli:helpdesk', reusable: true });
      const second = await taps.issue(account, { actor: 'cli:helpdesk' });
      assert.equal(second.revoked, 1);
      assert.equal(await taps.verify(account, first.pass), false);
      assert.equal(await taps.verify(account, second.pass), true);
    });

    it('a pass is bound to its account and refuses a wrong pass', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk' });
      await taps.issue(`${account}-other`, { actor: 'cli:helpdesk' });
      assert.deepEqual(await taps.check(`${account}-other`, pass), { ok: false, reason: 'wrong_pass' });
      assert.deepEqual(await taps.check(`${account}-none`, pass), { ok: false, reason: 'no_pass' });
      assert.deepEqual(await taps.check(account, 'abcd-efgh-jkmn'), { ok: false, reason: 'wrong_pass' });
      assert.equal(await taps.verify(account, pass), true);
    });

    it('an unknown account does the same work as a known one: one HMAC, one query, one comparison, and false', async () => {
      const { pass } = await taps.issue(account, { actor: 'cli:helpdesk' });
      const base = { repository: createAccessPassRepository(store), hasher: createCodeHasher(KEYS) };
      const workOf = async (accountId: string | null, typed: string) => {
        const c = counting(base.repository, base.hasher);
        const service = createAccessPassService({ repository: c.repository, hasher: c.hasher, clock, policy: POLICY });
        c.work.hash = 0; // the dummy hash made once at creation is not per-request work
        const ok = await service.verify(accountId, typed);
        return { ok, ...c.work };
      };
      const unknown = await workOf(null, pass);
      assert.deepEqual(unknown, { ok: false, hash: 1, equals: 1, latest: 1, consume: 0 });
      assert.deepEqual(await workOf(account, 'abcd-efgh-jkmn'), unknown, 'a wrong pass of a known account');
      assert.deepEqual(await workOf(`${account}-none`, pass), unknown, 'a known account without a pass');
    });

    it('issuing is audited, refused when disabled and outside 10..max_minutes', async () => {
      await taps.issue(account, { actor: 'cli:helpdesk', target: 'alice', minutes: 1440 });
      const event = await store.models.AuditEvent.findOne({ where: { activity: 'admin.tap_issued', targetAccountId: account } });
      assert.equal(event?.target, 'alice');
      assert.equal(event?.actor, 'cli:helpdesk');
      for (const minutes of [9, 1441, 60.5, Number.NaN]) {
        await assert.rejects(taps.issue(account, { actor: 'x', minutes }), (e: unknown) => e instanceof AccessPassError && e.code === 'minutes_out_of_range');
      }
      const small = make({ enabled: true, max_minutes: 30 });
      await assert.rejects(small.issue(account, { actor: 'x', minutes: 31 }), AccessPassError);
      assert.equal((await small.issue(account, { actor: 'x' })).expiresAt.toISOString(), '2026-03-01T10:30:00.000Z');
      await assert.rejects(make({ enabled: false, max_minutes: 1440 }).issue(account, { actor: 'x' }), (e: unknown) => e instanceof AccessPassError && e.code === 'disabled');
    });
  });
}
