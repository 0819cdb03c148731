import assert from 'node:assert/strict';
import { createAuditLog } from '../../../src/audit/index.ts';
import { createPasswordHasher } from '../../../src/sspr/password-hash.ts';
import { AdminError, createAccountService, type AccountService, type AdminNotice } from '../../../src/admin/accounts.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { defineSsprModels } from '../../../src/store/sspr-models.ts';
import { revokeAccountState } from '../../../src/store/revoke.ts';
import { TestClock } from '../../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../../support/db.ts';

const ACTOR = 'cli:tester';
const hasher = createPasswordHasher({ memory_kib: 8192, time_cost: 1, parallelism: 1 });

async function rejects(p: Promise<unknown>, code: string, message?: RegExp): Promise<AdminError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof AdminError, `expected AdminError, got ${String(err)}`);
    assert.equal(err.code, code);
    if (message) assert.match(err.message, message);
    return err;
  }
  assert.fail(`expected ${code}`);
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`account service on ${dialect}`, function () {
    let db: TestDatabase;
    let store: Store;
    let clock: TestClock;
    let accounts: AccountService;
    let notices: AdminNotice[];
    let rejectPasswords: string[];

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432 (set TEST_PG_URL)');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      store = await openStore({ url: db.url });
    });
    after(async () => {
      await store?.close();
      await db?.drop();
    });
    beforeEach(async () => {
      const { Account, Group, Membership, OidcPayload, RecoveryMethod, Throttle, AuditEvent } = store.models;
      for (const m of [Membership, RecoveryMethod, OidcPayload, Throttle, AuditEvent, Group, Account]) {
        await (m as typeof Account).destroy({ where: {}, truncate: false });
      }
      clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
      notices = [];
      rejectPasswords = [];
      let auditTick = 0;
      accounts = createAccountService({
        store,
        hasher,
        clock,
        // Audit times tick by a millisecond per event so their order is unambiguous on every database.
        audit: createAuditLog(store, { now: () => new Date(clock.now().getTime() + ++auditTick) }),
        defaultRegion: 'NL',
        checkPassword: async (pw) => (rejectPasswords.includes(pw) ? ['banned'] : []),
        notify: async (notice) => { notices.push(notice); },
      });
    });

    const audits = async () => (await store.models.AuditEvent.findAll({ order: [['time', 'ASC']] })).map((e) => ({ activity: e.activity, actor: e.actor, target: e.target, targetAccountId: e.targetAccountId }));
    const bob = () => accounts.addUser({ login: 'bob', email: 'bob@example.org', phone: '06 12345678', name: 'Bob', password: 'correct horse' }, ACTOR);

    describe('addUser', () => {
      it('trims and lowercases the login, stores E.164 and a verifiable argon2id hash, audits once', async () => {
        const u = await accounts.addUser({ login: '  Bob ', email: 'Bob@Example.org', phone: '06 12345678', name: ' Bob B ', password: 'correct horse' }, ACTOR);
        assert.equal(u.login, 'bob');
        assert.equal(u.email, 'Bob@Example.org');
        assert.equal(u.phone, '+31612345678');
        assert.equal(u.name, 'Bob B');
        assert.equal(u.admin, false);
        assert.deepEqual(u.methods, []);
        const row = await store.models.Account.findByPk(u.id);
        assert.ok(row);
        assert.ok(row.passwordHash?.startsWith('$argon2id$'));
        assert.ok(await hasher.verify(row.passwordHash ?? '', 'correct horse'));
        assert.equal(row.passwordChangedAt?.toISOString(), clock.now().toISOString());
        assert.deepEqual(await audits(), [{ activity: 'admin.user_added', actor: ACTOR, target: 'bob', targetAccountId: u.id }]);
      });

      it('refuses a login taken case-insensitively, and writes nothing', async () => {
        await bob();
        await rejects(accounts.addUser({ login: 'BOB', password: 'x' }, ACTOR), 'user_exists', /user "bob" already exists/);
        assert.equal(await store.models.Account.count(), 1);
        assert.equal((await audits()).length, 1);
      });

      it('refuses an email or login that already identifies someone else', async () => {
        await bob();
        await rejects(accounts.addUser({ login: 'robert', email: 'BOB@example.org', password: 'x' }, ACTOR), 'user_exists', /email/);
        await rejects(accounts.addUser({ login: 'bob@example.org', password: 'x' }, ACTOR), 'user_exists', /login "bob@example.org"/);
        assert.equal(await store.models.Account.count(), 1);
      });

      for (const [label, input, field] of [
        ['an empty login', { login: '   ' }, 'login'],
        ['a login over 190 characters', { login: 'x'.repeat(191) }, 'login'],
        ['a login with a control character', { login: 'bo\u0000b' }, 'login'],
        ['a bad email', { login: 'carol', email: 'carol@' }, 'email'],
        ['a bad phone', { login: 'carol', phone: '123' }, 'phone'],
        ['a phone of another region typed without +country', { login: 'carol', phone: '(201) 555-0123' }, 'phone'],
        ['an empty password', { login: 'carol', password: '' }, 'password'],
      ] as const) {
        it(`refuses ${label} as invalid_input on ${field}`, async () => {
          const err = await rejects(accounts.addUser({ password: 'pw', ...input }, ACTOR), 'invalid_input');
          assert.equal(err.field, field);
          assert.equal(await store.models.Account.count(), 0);
          assert.equal(await store.models.AuditEvent.count(), 0);
        });
      }

      it('stores admin and disabled in their own columns (not in email_verified)', async () => {
        await accounts.addUser({ login: 'ada', admin: true, password: 'pw' }, ACTOR);
        await accounts.addUser({ login: 'dan', password: 'pw' }, ACTOR);
        await accounts.setDisabled('dan', true, ACTOR);
        const [rows] = await store.sequelize.query('SELECT login, is_admin, disabled, email_verified, phone_verified FROM accounts ORDER BY login');
        const flags = (rows as Array<Record<string, unknown>>).map((r) => [r.login, Boolean(r.is_admin), Boolean(r.disabled), Boolean(r.email_verified), Boolean(r.phone_verified)]);
        assert.deepEqual(flags, [['ada', true, false, false, false], ['dan', false, true, false, false]]);
      });

      it('accepts a 190-character login and an international number', async () => {
        const u = await accounts.addUser({ login: 'y'.repeat(190), phone: '+1 201 555 0123', password: 'pw' }, ACTOR);
        assert.equal(u.phone, '+12015550123');
      });

      it('runs the password-policy hook and reports the failed rules', async () => {
        rejectPasswords = ['password1'];
        const err = await rejects(accounts.addUser({ login: 'carol', password: 'password1' }, ACTOR), 'password_rejected');
        assert.deepEqual(err.rules, ['banned']);
        assert.equal(await store.models.Account.count(), 0);
      });
    });

    describe('reading', () => {
      it('getUser finds case-insensitively and lists groups and methods; unknown is user_not_found', async () => {
        const u = await bob();
        await accounts.addGroup('Staff', ACTOR);
        await accounts.addMember('staff', 'BOB', ACTOR);
        await store.models.RecoveryMethod.create({ id: 'm1', accountId: u.id, type: 'email', target: 'b@example.net', secretEnc: null, lastTimeStep: null, verifiedAt: clock.now() });
        const got = await accounts.getUser(' BOB ');
        assert.deepEqual(got.groups, ['Staff']);
        assert.deepEqual(got.methods.map((m) => [m.type, m.target]), [['email', 'b@example.net']]);
        await rejects(accounts.getUser('nobody'), 'user_not_found', /user "nobody" not found/);
      });

      it('listUsers orders by login', async () => {
        await accounts.addUser({ login: 'zoe', password: 'pw' }, ACTOR);
        await bob();
        assert.deepEqual((await accounts.listUsers()).map((u) => u.login), ['bob', 'zoe']);
      });
    });

    describe('changes', () => {
      async function seedProviderState(accountId: string) {
        const { OidcPayload } = store.models;
        const row = (model: string, id: string, extra: { accountId?: string | null; grantId?: string | null; uid?: string | null }) =>
          OidcPayload.create({ model, id, payload: '{}', grantId: extra.grantId ?? null, userCode: null, uid: extra.uid ?? null, accountId: extra.accountId ?? null, expiresAt: null, consumedAt: null });
        await row('Session', 's1', { accountId, uid: 'u1' });
        await row('Grant', 'g1', { accountId });
        await row('AccessToken', 'at1', { accountId, grantId: 'g1' });
        await row('RefreshToken', 'rt1', { grantId: 'g1' }); // no accountId column: goes with its grant
        await row('Session', 's2', { accountId: 'someone-else' });
        await row('Grant', 'g2', { accountId: 'someone-else' });
        await row('RefreshToken', 'rt2', { grantId: 'g2' });
        await row('Interaction', 'i1', {});
      }
      const remaining = async () => (await store.models.OidcPayload.findAll()).map((r) => r.id).sort();

      it('revokeAccountState deletes the account\'s rows and every row of its grants only', async () => {
        await seedProviderState('acc-1');
        const n = await store.transaction((t) => revokeAccountState(store, 'acc-1', t));
        assert.equal(n, 4);
        assert.deepEqual(await remaining(), ['g2', 'i1', 'rt2', 's2']);
      });

      it('setDisabled(true) disables and revokes; setDisabled(false) enables; each audited once', async () => {
        const u = await bob();
        await seedProviderState(u.id);
        const r = await accounts.setDisabled('Bob', true, ACTOR);
        assert.deepEqual(r, { login: 'bob', changed: true, revoked: 4 });
        assert.equal((await accounts.getUser('bob')).disabled, true);
        assert.deepEqual(await remaining(), ['g2', 'i1', 'rt2', 's2']);
        assert.equal((await accounts.setDisabled('bob', false, ACTOR)).changed, true);
        assert.equal((await accounts.getUser('bob')).disabled, false);
        assert.deepEqual((await audits()).map((a) => a.activity), ['admin.user_added', 'admin.user_disabled', 'admin.user_enabled']);
      });

      it('setPassword rehashes, stamps passwordChangedAt, revokes everything, audits admin.password_reset, notifies', async () => {
        const u = await bob();
        await seedProviderState(u.id);
        clock.advance('1h');
        const r = await accounts.setPassword('bob', 'new password here', ACTOR);
        assert.equal(r.revoked, 4);
        const row = await store.models.Account.findByPk(u.id);
        assert.ok(await hasher.verify(row!.passwordHash!, 'new password here'));
        assert.equal(await hasher.verify(row!.passwordHash!, 'correct horse'), false);
        assert.equal(row!.passwordChangedAt?.toISOString(), clock.now().toISOString());
        assert.deepEqual(await remaining(), ['g2', 'i1', 'rt2', 's2']);
        assert.deepEqual((await audits()).at(-1), { activity: 'admin.password_reset', actor: ACTOR, target: 'bob', targetAccountId: u.id });
        assert.deepEqual(notices.map((n) => [n.kind, n.account.login]), [['password_reset', 'bob']]);
      });

      it('setPassword refused by the policy hook changes nothing', async () => {
        const u = await bob();
        await seedProviderState(u.id);
        rejectPasswords = ['weak'];
        await rejects(accounts.setPassword('bob', 'weak', ACTOR), 'password_rejected', /banned/);
        await rejects(accounts.setPassword('nobody', 'fine password', ACTOR), 'user_not_found');
        assert.equal((await remaining()).length, 8);
        assert.equal((await audits()).length, 1);
        assert.equal(notices.length, 0);
      });

      it('setAdmin grants and revokes administrator rights', async () => {
        await bob();
        assert.equal((await accounts.setAdmin('bob', true, ACTOR)).changed, true);
        assert.equal((await accounts.getUser('bob')).admin, true);
        assert.equal((await accounts.setAdmin('bob', true, ACTOR)).changed, false);
        assert.equal((await accounts.setAdmin('bob', false, ACTOR)).changed, true);
        assert.equal((await accounts.getUser('bob')).admin, false);
        assert.deepEqual((await audits()).map((a) => a.activity).slice(1), ['admin.admin_granted', 'admin.admin_granted', 'admin.admin_revoked']);
      });

      it('resetMethods deletes the methods, clears the confirmation and notifies', async () => {
        const u = await bob();
        const other = await accounts.addUser({ login: 'zoe', password: 'pw' }, ACTOR);
        const { RecoveryMethod } = store.models;
        for (const [id, accountId, type] of [['m1', u.id, 'email'], ['m2', u.id, 'totp'], ['m3', other.id, 'sms']]) {
          await RecoveryMethod.create({ id, accountId, type, target: null, secretEnc: null, lastTimeStep: null, verifiedAt: clock.now() });
        }
        await defineSsprModels(store.sequelize).SsprProfile.upsert({ accountId: u.id, confirmedAt: clock.now(), lastResetAt: null });
        assert.ok((await accounts.getUser('bob')).confirmedAt);
        const r = await accounts.resetMethods('bob', ACTOR);
        assert.equal(r.removed, 2);
        const after = await accounts.getUser('bob');
        assert.deepEqual(after.methods, []);
        assert.equal(after.confirmedAt, null);
        assert.equal(await RecoveryMethod.count(), 1);
        assert.equal((await audits()).at(-1)?.activity, 'admin.methods_reset');
        assert.deepEqual(notices.map((n) => n.kind), ['methods_reset']);
      });

      it('unblock removes every throttle touching the account (account key, login, email, with or without an address) and nothing else', async () => {
        await bob();
        const id = (await accounts.getUser('bob')).id;
        const until = new Date(clock.now().getTime() + 3_600_000);
        const mine = ['id:bob', 'id:bob|ip:192.0.2.1', 'reset_fail/id:bob@example.org', 'reset_email/id:bob@example.org|ip:192.0.2.1',
          `signin/acct:${id}`, `signin/acct:${id}|ip:2001:db8:0:1::/64`, `reset_fail/acct:${id}`, `register:failed_verifications:id:${id}`];
        const others = ['id:bobby', 'id:bobby|ip:192.0.2.1', 'ip:192.0.2.1', 'reset_fail/ip:192.0.2.1', 'id:xbob', 'signin/acct:other-id'];
        for (const key of [...mine, ...others]) await store.models.Throttle.create({ key, count: 9, windowEndsAt: until, blockedUntil: until });
        const r = await accounts.unblock('bob', ACTOR);
        assert.equal(r.removed, mine.length);
        assert.deepEqual((await store.models.Throttle.findAll()).map((t) => t.key).sort(), [...others].sort());
        assert.equal((await audits()).at(-1)?.activity, 'admin.user_unblocked');
      });

      it('unblockIp removes every throttle of the address (IPv6: its /64), with or without an identifier, audited', async () => {
        const until = new Date(clock.now().getTime() + 3_600_000);
        const mine = ['ip:2001:db8:0:1::/64', 'reset_fail/ip:2001:db8:0:1::/64', 'id:carol|ip:2001:db8:0:1::/64', 'signin/acct:x|ip:2001:db8:0:1::/64'];
        const others = ['ip:2001:db8:0:2::/64', 'id:ip:2001:db8:0:1::/64x', 'ip:192.0.2.1', 'id:carol'];
        for (const key of [...mine, ...others]) await store.models.Throttle.create({ key, count: 9, windowEndsAt: until, blockedUntil: until });
        const r = await accounts.unblockIp('2001:db8:0:1:abcd::7', ACTOR);
        assert.deepEqual([r.address, r.removed], ['2001:db8:0:1::/64', mine.length]);
        assert.deepEqual((await store.models.Throttle.findAll()).map((t) => t.key).sort(), [...others].sort());
        const event = (await audits()).at(-1);
        assert.equal(event?.activity, 'admin.ip_unblocked');
        await assert.rejects(accounts.unblockIp('not-an-address', ACTOR), /not an IP address/);
      });

      it('an unknown user is user_not_found for every change, and nothing is audited', async () => {
        await rejects(accounts.setDisabled('nobody', true, ACTOR), 'user_not_found');
        await rejects(accounts.setAdmin('nobody', true, ACTOR), 'user_not_found');
        await rejects(accounts.resetMethods('nobody', ACTOR), 'user_not_found');
        await rejects(accounts.unblock('nobody', ACTOR), 'user_not_found');
        assert.equal(await store.models.AuditEvent.count(), 0);
      });
    });

    describe('groups', () => {
      it('adds groups (unique case-insensitively), members, counts, and removes members', async () => {
        await bob();
        await accounts.addUser({ login: 'zoe', password: 'pw' }, ACTOR);
        await accounts.addGroup(' Staff ', ACTOR);
        await accounts.addGroup('Sales', ACTOR);
        await rejects(accounts.addGroup('STAFF', ACTOR), 'group_exists', /group "Staff" already exists/);
        await rejects(accounts.addGroup('', ACTOR), 'invalid_input');
        assert.equal((await accounts.addMember('staff', 'bob', ACTOR)).changed, true);
        assert.equal((await accounts.addMember('Staff', 'bob', ACTOR)).changed, false);
        await accounts.addMember('Staff', 'zoe', ACTOR);
        await accounts.addMember('Sales', 'zoe', ACTOR);
        assert.deepEqual((await accounts.listGroups()).map((g) => [g.name, g.members]), [['Sales', 1], ['Staff', 2]]);
        assert.deepEqual((await accounts.getUser('zoe')).groups, ['Sales', 'Staff']);
        assert.equal((await accounts.removeMember('staff', 'zoe', ACTOR)).changed, true);
        assert.equal((await accounts.removeMember('staff', 'zoe', ACTOR)).changed, false);
        assert.deepEqual((await accounts.listGroups()).map((g) => [g.name, g.members]), [['Sales', 1], ['Staff', 1]]);
        await rejects(accounts.addMember('nope', 'bob', ACTOR), 'group_not_found', /group "nope" not found/);
        await rejects(accounts.addMember('Staff', 'nobody', ACTOR), 'user_not_found');
        const activities = (await audits()).map((a) => a.activity);
        assert.deepEqual(activities.slice(2), [
          'admin.group_added', 'admin.group_added',
          'admin.group_member_added', 'admin.group_member_added', 'admin.group_member_added', 'admin.group_member_added',
          'admin.group_member_removed', 'admin.group_member_removed',
        ]);
      });
    });
  });
}
