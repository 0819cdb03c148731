import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createAuditLog, type AuditLog } from '../../../src/audit/index.ts';
import { configSchema } from '../../../src/config/schema.ts';
import { createDelivery } from '../../../src/delivery/index.ts';
import { createDeliveryQueue, FAILED_MARKER, openBody, scrub, SENT_MARKER } from '../../../src/delivery/queue.ts';
import { createSmsHttpTransport } from '../../../src/delivery/sms-http.ts';
import { createSmtpTransport } from '../../../src/delivery/smtp.ts';
import type { LogFn, OutgoingMessage, Transport } from '../../../src/delivery/transports.ts';
import { createSecretBox } from '../../../src/sspr/crypto.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { TestClock } from '../../support/clock.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../../support/db.ts';
import { startGateway, startSmtpServer, waitFor } from './helpers.ts';

const quiet: LogFn = () => {};
const secretBox = createSecretBox(['queue-test-key-0123456789abcdef']);
const policy = { allowedCountries: ['NL', 'BE', 'DE'], defaultRegion: 'NL' };

/** A transport that records what it is asked to send, optionally slowly or failing. */
function recorder(opts: { delayMs?: number; fail?: () => Error | null } = {}) {
  const sent: OutgoingMessage[] = [];
  const transport: Transport = {
    async send(msg) {
      if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
      const err = opts.fail?.();
      if (err) throw err;
      sent.push(msg);
    },
  };
  return { sent, transport };
}

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`delivery queue on ${dialect}`, function () {
    let db: TestDatabase;
    let store: Store;
    let clock: TestClock;
    let audit: AuditLog;

    before(async function () {
      if (dialect === 'postgres' && !(await postgresAvailable())) {
        console.log('    skipped: no PostgreSQL answers on 127.0.0.1:5432 (set TEST_PG_URL)');
        this.skip();
      }
      db = dialect === 'sqlite' ? createSqliteDatabase() : await createPostgresDatabase();
      store = await openStore({ url: db.url });
    });
    after(async () => { await store?.close(); await db?.drop(); });
    beforeEach(async () => {
      clock = new TestClock(new Date('2026-05-04T10:00:00Z'));
      audit = createAuditLog(store, clock);
      await store.models.Delivery.destroy({ where: {} });
      await store.models.AuditEvent.destroy({ where: {} });
    });

    it('writes the message in the caller\'s transaction: a rollback leaves nothing to send', async () => {
      const email = recorder();
      const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: email.transport, sms: recorder().transport } });
      await assert.rejects(store.transaction(async (t) => {
        await queue.enqueue({ channel: 'email', to: 'a@example.org', subject: 's', text: 't' }, t);
        throw new Error('step failed');
      }), /step failed/);
      assert.equal(await store.models.Delivery.count(), 0);
      await store.transaction((t) => queue.enqueue({ channel: 'email', to: 'a@example.org', subject: 's', text: 't' }, t));
      const [row] = await store.models.Delivery.findAll();
      assert.equal(row.status, 'pending');
      assert.equal(email.sent.length, 0, 'enqueue itself sends nothing');
      assert.equal(await queue.flush(), 1);
      assert.equal(email.sent.length, 1);
    });

    it('sends a queued email through a real SMTP server, then forgets the text and audits without the address', async () => {
      const smtp = await startSmtpServer();
      const transport = createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false, from: 'oidc-sspr <no-reply@example.org>' });
      try {
        const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: transport, sms: recorder().transport } });
        const id = await queue.enqueue({ channel: 'email', to: 'alice@example.org', subject: 'Your oidc-sspr verification code', text: 'Hello,\n\n739201\n', accountId: 'acc-1', correlationId: 'corr-1' });
        assert.equal(await queue.flush(), 1);
        assert.equal(smtp.received.length, 1);
        const [mail] = smtp.received;
        assert.equal(mail.headers.subject, 'Your oidc-sspr verification code');
        assert.equal(mail.from, 'no-reply@example.org');
        assert.deepEqual(mail.to, ['alice@example.org']);
        assert.match(mail.text, /^Hello,\n\n739201\n/);

        const row = await store.models.Delivery.findByPk(id);
        assert.equal(row?.status, 'sent');
        assert.equal(row?.body, SENT_MARKER);
        assert.equal(row?.attempts, 1);
        assert.equal(row?.sentAt?.toISOString(), clock.now().toISOString());

        const events = await audit.query({ activity: 'sspr.notice.*' });
        assert.equal(events.length, 1);
        assert.equal(events[0].activity, 'sspr.notice.sent');
        assert.equal(events[0].result, 'success');
        assert.equal(events[0].correlation_id, 'corr-1');
        assert.deepEqual(events[0].details, { channel: 'email' });
        assert.doesNotMatch(JSON.stringify(events), /alice@|739201/);
      } finally {
        transport.close?.();
        await smtp.close();
      }
    });

    it('retries with backoff on the test clock: the gateway answers 500 first, then 200', async () => {
      const gateway = await startGateway();
      try {
        const sms = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'json', headers: { Authorization: 'Bearer <token>' }, env: { OIDC_SSPR_SMS_TOKEN: 'tok' } });
        const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: recorder().transport, sms } });
        gateway.answer(500);
        const id = await queue.enqueue({ channel: 'sms', to: '0612345678', text: '482190 is your code' });

        assert.equal(await queue.processDue(), 1);
        let row = await store.models.Delivery.findByPk(id);
        assert.equal(row?.status, 'pending');
        assert.equal(row?.attempts, 1);
        assert.equal(row?.lastError, 'SMS gateway answered HTTP 500');
        assert.equal(row?.nextAttemptAt.getTime(), clock.now().getTime() + 30_000);
        assert.doesNotMatch(row!.body, /482190/, 'sealed while it waits');
        assert.equal(openBody(secretBox, row!), '482190 is your code', 'kept until it is sent');

        assert.equal(await queue.flush(), 0, 'not due yet');
        clock.advance('29s');
        assert.equal(await queue.processDue(), 0);
        clock.advance('1s');
        assert.equal(await queue.processDue(), 1);

        row = await store.models.Delivery.findByPk(id);
        assert.equal(row?.status, 'sent');
        assert.equal(row?.attempts, 2);
        assert.equal(row?.body, SENT_MARKER);
        assert.equal(gateway.requests.length, 2);
        assert.equal(gateway.requests[1].headers.authorization, 'Bearer tok');
        assert.deepEqual(JSON.parse(gateway.requests[1].body), { to: '+31612345678', text: '482190 is your code' });
        const events = await audit.query({ activity: 'sspr.notice.*' });
        assert.deepEqual(events.map((e) => [e.activity, e.details]), [['sspr.notice.sent', { channel: 'sms' }]]);
      } finally {
        await gateway.close();
      }
    });

    it('gives up after 5 attempts (30 s, 1, 2, 4 min apart) and audits the failure', async () => {
      const sms = recorder({ fail: () => new Error('gateway down for +31612345678') });
      const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: recorder().transport, sms: sms.transport } });
      const id = await queue.enqueue({ channel: 'sms', to: '+31612345678', text: '482190', accountId: 'acc-9' });
      const waits: number[] = [];
      for (let attempt = 1; attempt <= 5; attempt++) {
        assert.equal(await queue.flush(), 1, `attempt ${attempt}`);
        const row = await store.models.Delivery.findByPk(id);
        if (attempt < 5) {
          waits.push(row!.nextAttemptAt.getTime() - clock.now().getTime());
          clock.advance(waits[waits.length - 1]);
        }
      }
      assert.deepEqual(waits, [30_000, 60_000, 120_000, 240_000]);
      const row = await store.models.Delivery.findByPk(id);
      assert.equal(row?.status, 'failed');
      assert.equal(row?.attempts, 5);
      assert.equal(row?.body, FAILED_MARKER);
      clock.advance('1d');
      assert.equal(await queue.flush(), 0);

      const events = await audit.query({ activity: 'sspr.notice.*' });
      assert.equal(events.length, 1);
      assert.equal(events[0].activity, 'sspr.notice.failed');
      assert.equal(events[0].result, 'failure');
      assert.equal(events[0].reason, 'gateway down for [recipient]');
      assert.deepEqual(events[0].details, { channel: 'sms', attempts: 5 });
    });

    it('refuses a number outside allowed_countries at once and audits it as failed', async () => {
      const gateway = await startGateway();
      try {
        const sms = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'form', env: {} });
        const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: recorder().transport, sms } });
        const id = await queue.enqueue({ channel: 'sms', to: '+44 20 7946 0958', text: '551234 is your code' });
        assert.equal(await queue.flush(), 1);
        assert.equal(gateway.requests.length, 0);
        const row = await store.models.Delivery.findByPk(id);
        assert.equal(row?.status, 'failed');
        assert.equal(row?.attempts, 1);
        assert.equal(row?.body, FAILED_MARKER);
        const events = await audit.query({ activity: 'sspr.notice.failed' });
        assert.equal(events.length, 1);
        assert.match(events[0].reason ?? '', /country GB is not in allowed_countries/);
        assert.doesNotMatch(JSON.stringify(events), /7946|551234/);
      } finally {
        await gateway.close();
      }
    });

    it('runs as a background worker: kicked after the commit, stop() waits for the batch in flight', async () => {
      const email = recorder({ delayMs: 50 });
      const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: email.transport, sms: recorder().transport } });
      queue.start(60_000); // long interval: only the first tick and kicks send
      await store.transaction((t) => queue.enqueue({ channel: 'email', to: 'a@example.org', subject: 's', text: 'one' }, t));
      await waitFor(() => email.sent.length === 1);
      await queue.enqueue({ channel: 'email', to: 'b@example.org', subject: 's', text: 'two' });
      await new Promise((r) => setImmediate(r));
      await queue.stop(); // the second batch is in flight (transport sleeps 50 ms)
      assert.equal(email.sent.length, 2);
      assert.equal(await store.models.Delivery.count({ where: { status: 'sent' } }), 2);
      queue.kick(); // after stop: a no-op
      await queue.enqueue({ channel: 'email', to: 'c@example.org', subject: 's', text: 'three' });
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(email.sent.length, 2);
    });

    it('claims a row once even when several queues process at the same time', async () => {
      // PostgreSQL: a second instance with its own connections. SQLite serves one process, so there
      // the second queue shares the store (a worker batch and a flush overlapping).
      const second = dialect === 'postgres' ? await openStore({ url: db.url, migrate: false }) : store;
      try {
        const a = recorder({ delayMs: 5 });
        const b = recorder({ delayMs: 5 });
        const qa = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: a.transport, sms: a.transport } });
        const qb = createDeliveryQueue({ store: second, clock, audit: createAuditLog(second, clock), secretBox, log: quiet, transports: { email: b.transport, sms: b.transport } });
        for (let i = 0; i < 40; i++) await qa.enqueue({ channel: 'email', to: `u${i}@example.org`, subject: 's', text: `m${i}` });
        const [na, nb] = await Promise.all([qa.flush(5), qb.flush(5)]);
        assert.equal(na + nb, 40);
        const texts = [...a.sent, ...b.sent].map((m) => m.text).sort();
        assert.equal(texts.length, 40);
        assert.equal(new Set(texts).size, 40, 'no message sent twice');
        assert.equal(await store.models.Delivery.count({ where: { status: 'sent' } }), 40);
        if (dialect === 'postgres') assert.ok(a.sent.length > 0 && b.sent.length > 0, 'both instances took a share');
      } finally {
        if (second !== store) await second.close();
      }
    });

    if (dialect === 'postgres') {
      it('skips a row another instance holds locked instead of waiting for it', async () => {
        const second = await openStore({ url: db.url, migrate: false });
        try {
          const b = recorder();
          const qb = createDeliveryQueue({ store: second, clock, audit: createAuditLog(second, clock), secretBox, log: quiet, transports: { email: b.transport, sms: b.transport } });
          const qa = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: recorder().transport, sms: recorder().transport } });
          const locked = await qa.enqueue({ channel: 'email', to: 'x@example.org', subject: 's', text: 'locked' });
          await qa.enqueue({ channel: 'email', to: 'y@example.org', subject: 's', text: 'free' });
          await store.transaction(async (t) => {
            await store.sequelize.query('SELECT id FROM deliveries WHERE id = $1 FOR UPDATE', { bind: [locked], transaction: t });
            assert.equal(await qb.processDue(), 1);
          });
          assert.deepEqual(b.sent.map((m) => m.text), ['free']);
          assert.equal(await qb.processDue(), 1);
          assert.deepEqual(b.sent.map((m) => m.text), ['free', 'locked']);
        } finally {
          await second.close();
        }
      });
    }

    it('claims a row again when the instance that claimed it vanished (lease expired)', async () => {
      const email = recorder();
      const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: email.transport, sms: email.transport } });
      const id = await queue.enqueue({ channel: 'email', to: 'a@example.org', subject: 's', text: 't' });
      await store.models.Delivery.update({ status: 'sending', nextAttemptAt: new Date(clock.now().getTime() + 5 * 60_000) }, { where: { id } });
      assert.equal(await queue.flush(), 0);
      clock.advance('5m');
      assert.equal(await queue.flush(), 1);
      assert.equal(email.sent.length, 1);
    });

    it('seals bodies bound to their row; still sends a plaintext row queued by an older version; gives up on a body whose key is gone', async () => {
      const email = recorder();
      const queue = createDeliveryQueue({ store, clock, audit, secretBox, log: quiet, transports: { email: email.transport, sms: email.transport } });
      const sealed = await queue.enqueue({ channel: 'email', to: 'a@example.org', subject: 's', text: '314159 is your code' });
      const row = (await store.models.Delivery.findByPk(sealed))!;
      assert.match(row.body, /^sealed:v1\./);
      assert.throws(() => openBody(secretBox, { id: 'another-row', body: row.body }), 'bound to its row');

      const legacy = await queue.enqueue({ channel: 'email', to: 'b@example.org', subject: 's', text: 'x' });
      await store.models.Delivery.update({ body: '271828 is your code' }, { where: { id: legacy } });
      const rotated = createDeliveryQueue({ store, clock, audit, secretBox: createSecretBox(['a-new-key-that-replaced-the-old-one']), log: quiet, transports: { email: email.transport, sms: email.transport } });
      const orphan = await queue.enqueue({ channel: 'email', to: 'c@example.org', subject: 's', text: '161803 is your code' });
      await store.models.Delivery.update({ nextAttemptAt: new Date(clock.now().getTime() + 1000) }, { where: { id: orphan } });

      assert.equal(await queue.flush(), 2);
      assert.deepEqual(email.sent.map((m) => m.text).sort(), ['271828 is your code', '314159 is your code']);
      clock.advance('1s');
      assert.equal(await rotated.flush(), 1);
      const gone = (await store.models.Delivery.findByPk(orphan))!;
      assert.equal(gone.status, 'failed', 'no retry can open it');
      assert.equal(gone.body, FAILED_MARKER);
    });

    it('createDelivery: renders in the user\'s language into the outbox, and SMS obeys allowed_countries there too', async () => {
      const tmp = createSqliteDatabase();
      try {
        const config = configSchema.parse({ delivery: { outbox_dir: join(tmp.dir, 'outbox') } }).delivery;
        const delivery = createDelivery(config, { store, clock, audit, secretBox, log: quiet });
        await store.transaction((t) => delivery.enqueueMessage({ channel: 'email', to: 'jan@example.nl', lang: 'nl', template: 'code.reset', params: { code: '90817263', minutes: 10, name: 'Jan' } }, t));
        await delivery.enqueueMessage({ channel: 'sms', to: '0612345678', lang: 'en', template: 'notice.password_changed', params: { login: 'jan', time: clock.now() } });
        await delivery.enqueueMessage({ channel: 'sms', to: '+1 212 555 0100', lang: 'en', template: 'code.registration', params: { code: '123456', minutes: 5 } });
        assert.equal(await delivery.flush(), 3);
        const files = readdirSync(join(tmp.dir, 'outbox')).sort();
        assert.equal(files.length, 2);
        const bodies = files.map((f) => JSON.parse(readFileSync(join(tmp.dir, 'outbox', f), 'utf8')) as { to: string; subject: string | null; text: string; channel: string });
        const mail = bodies.find((b) => b.channel === 'email');
        assert.equal(mail?.subject, 'Uw verificatiecode om uw wachtwoord opnieuw in te stellen');
        assert.match(mail?.text ?? '', /^Hallo Jan,\n[\s\S]*\n90817263\n/);
        const sms = bodies.find((b) => b.channel === 'sms');
        assert.equal(sms?.to, '+31612345678');
        assert.equal(sms?.subject, null);
        assert.equal(await store.models.Delivery.count({ where: { status: 'failed' } }), 1);
        await delivery.close();
      } finally {
        await tmp.drop();
      }
    });
  });
}

describe('delivery scrub', () => {
  it('keeps addresses and numbers out of audit reasons', () => {
    assert.equal(scrub('550 <bob@example.org>: mailbox unavailable', 'alice@example.org'), '550 <[address]>: mailbox unavailable');
    assert.equal(scrub('refused +31 6 1234 5678', 'x'), 'refused [number]');
    assert.equal(scrub('connect ECONNREFUSED 127.0.0.1:9000', 'x'), 'connect ECONNREFUSED 127.0.0.1:9000');
  });
});
