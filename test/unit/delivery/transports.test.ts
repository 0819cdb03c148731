import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { createOutboxTransport } from '../../../src/delivery/outbox.ts';
import { createSmsHttpTransport } from '../../../src/delivery/sms-http.ts';
import { createSmtpTransport } from '../../../src/delivery/smtp.ts';
import { normalizeSmsRecipient, PermanentDeliveryError, withSmsRecipientPolicy, type LogFn, type Transport } from '../../../src/delivery/transports.ts';
import { TestClock } from '../../support/clock.ts';
import { createSqliteDatabase } from '../../support/db.ts';
import { startGateway, startSmtpServer, waitFor } from './helpers.ts';

const policy = { allowedCountries: ['NL', 'BE', 'DE'], defaultRegion: 'NL' };

describe('delivery transports', () => {
  describe('outbox', () => {
    const tmp = createSqliteDatabase(); // only for its fresh temporary folder
    after(() => tmp.drop());

    it('writes one JSON file per message, sortable by time, and logs one line each', async () => {
      const dir = join(tmp.dir, 'deep', 'outbox');
      const clock = new TestClock(new Date('2026-05-04T10:00:00Z'));
      const lines: string[] = [];
      const log: LogFn = (_level, message) => lines.push(message);
      const outbox = createOutboxTransport({ dir, clock, log });
      await outbox.send({ channel: 'email', to: 'a@example.org', subject: 'First', text: 'one' });
      clock.advance('1s');
      await outbox.send({ channel: 'sms', to: '+31612345678', text: 'two' });
      clock.advance('9s');
      await outbox.send({ channel: 'email', to: 'b@example.org', subject: 'Third', text: 'three' });

      const files = readdirSync(dir).sort();
      assert.equal(files.length, 3);
      const bodies = files.map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Record<string, unknown>);
      assert.deepEqual(bodies.map((b) => b.text), ['one', 'two', 'three']);
      assert.deepEqual(bodies[0], { to: 'a@example.org', subject: 'First', text: 'one', channel: 'email', time: '2026-05-04T10:00:00.000Z' });
      assert.equal(bodies[1].channel, 'sms');
      assert.equal(statSync(join(dir, files[0])).mode & 0o777, 0o600);
      assert.equal(lines.length, 3);
      assert.match(lines[0], /outbox: email to a@example\.org/);
    });

    it('keeps two messages of the same millisecond apart', async () => {
      const dir = join(tmp.dir, 'same-ms');
      const clock = new TestClock(0);
      const outbox = createOutboxTransport({ dir, clock, log: () => {} });
      await Promise.all([1, 2, 3].map((i) => outbox.send({ channel: 'email', to: 'x@example.org', text: String(i) })));
      assert.equal(readdirSync(dir).length, 3);
    });
  });

  describe('smtp', () => {
    it('sends through a real SMTP server with subject, text and from', async () => {
      const smtp = await startSmtpServer();
      try {
        const t = createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false, user: '', pass: '', from: 'oidc-sspr <no-reply@example.org>' });
        await t.send({ channel: 'email', to: 'alice@example.org', subject: 'Your code', text: 'Hello,\n\n482190\n' });
        t.close?.();
        assert.equal(smtp.received.length, 1);
        const [mail] = smtp.received;
        assert.equal(mail.from, 'no-reply@example.org');
        assert.deepEqual(mail.to, ['alice@example.org']);
        assert.equal(mail.user, undefined);
        assert.equal(mail.headers.subject, 'Your code');
        assert.match(mail.headers.from, /^"?oidc-sspr"? <no-reply@example\.org>$/);
        assert.equal(mail.text.trimEnd(), 'Hello,\n\n482190');
      } finally {
        await smtp.close();
      }
    });

    it('authenticates when a user is configured', async () => {
      const smtp = await startSmtpServer({ user: 'mailer', pass: 's3cret' });
      try {
        const t = createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false, user: 'mailer', pass: 's3cret', from: 'x@example.org' });
        await t.send({ channel: 'email', to: 'bob@example.org', subject: 's', text: 't' });
        assert.equal(smtp.received[0].user, 'mailer');
        const wrong = createSmtpTransport({ host: '127.0.0.1', port: smtp.port, secure: false, user: 'mailer', pass: 'nope', from: 'x@example.org' });
        await assert.rejects(wrong.send({ channel: 'email', to: 'bob@example.org', subject: 's', text: 't' }));
      } finally {
        await smtp.close();
      }
    });

    it('fails (to be retried) when the server is unreachable', async () => {
      const smtp = await startSmtpServer();
      const port = smtp.port;
      await smtp.close();
      const t = createSmtpTransport({ host: '127.0.0.1', port, secure: false, from: 'x@example.org', timeoutMs: 2000 });
      await assert.rejects(t.send({ channel: 'email', to: 'a@example.org', subject: 's', text: 't' }), (err: Error) => !(err instanceof PermanentDeliveryError));
    });
  });

  describe('sms over http', () => {
    let gateway: Awaited<ReturnType<typeof startGateway>>;
    beforeEach(async () => { gateway = await startGateway(); });
    afterEach(() => gateway.close());

    it('posts JSON with the E.164 number and the token from the environment', async () => {
      const t = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'json', headers: { Authorization: 'Bearer <token>', 'X-Tenant': 'acme' }, env: { OIDC_SSPR_SMS_TOKEN: 'tok-123' } });
      await t.send({ channel: 'sms', to: '06 12345678', text: '482190 is your code' });
      assert.equal(gateway.requests.length, 1);
      const [req] = gateway.requests;
      assert.equal(req.method, 'POST');
      assert.equal(req.url, '/sms');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.equal(req.headers.authorization, 'Bearer tok-123');
      assert.equal(req.headers['x-tenant'], 'acme');
      assert.deepEqual(JSON.parse(req.body), { to: '+31612345678', text: '482190 is your code' });
    });

    it('posts a form body, reading OIDC_SSPR_SMS_TOKEN from process.env by default', async () => {
      const before = process.env.OIDC_SSPR_SMS_TOKEN;
      process.env.OIDC_SSPR_SMS_TOKEN = 'from-env';
      try {
        const t = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'form', headers: { Authorization: 'Bearer <token>' } });
        await t.send({ channel: 'sms', to: '+32 470 12 34 56', text: 'Code: 4821907 & more' });
      } finally {
        if (before === undefined) delete process.env.OIDC_SSPR_SMS_TOKEN;
        else process.env.OIDC_SSPR_SMS_TOKEN = before;
      }
      const [req] = gateway.requests;
      assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
      assert.equal(req.headers.authorization, 'Bearer from-env');
      const form = new URLSearchParams(req.body);
      assert.equal(form.get('to'), '+32470123456');
      assert.equal(form.get('text'), 'Code: 4821907 & more');
    });

    it('treats a non-2xx answer as an error; 5xx is retried, 401 is not', async () => {
      const t = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'json', env: {} });
      gateway.answer(500, 401);
      await assert.rejects(t.send({ channel: 'sms', to: '+31612345678', text: 'x' }), (err: Error) => err.message === 'SMS gateway answered HTTP 500' && !(err instanceof PermanentDeliveryError));
      await assert.rejects(t.send({ channel: 'sms', to: '+31612345678', text: 'x' }), PermanentDeliveryError);
    });

    it('refuses a number outside allowed_countries without calling the gateway', async () => {
      const t = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'json', env: {} });
      await assert.rejects(t.send({ channel: 'sms', to: '+44 20 7946 0958', text: 'x' }), (err: Error) => {
        assert.ok(err instanceof PermanentDeliveryError);
        assert.match(err.message, /country GB is not in allowed_countries/);
        assert.doesNotMatch(err.message, /7946/);
        return true;
      });
      await assert.rejects(t.send({ channel: 'sms', to: 'not a number', text: 'x' }), PermanentDeliveryError);
      assert.equal(gateway.requests.length, 0);
    });

    it('refuses to send when <token> is configured but OIDC_SSPR_SMS_TOKEN is missing', async () => {
      const t = createSmsHttpTransport({ ...policy, url: gateway.url, format: 'json', headers: { Authorization: 'Bearer <token>' }, env: {} });
      await assert.rejects(t.send({ channel: 'sms', to: '+31612345678', text: 'x' }), /OIDC_SSPR_SMS_TOKEN/);
      assert.equal(gateway.requests.length, 0);
    });

    it('times out a gateway that does not answer', async () => {
      const t = createSmsHttpTransport({ ...policy, url: 'http://10.255.255.1:9/sms', format: 'json', env: {}, timeoutMs: 200 });
      await assert.rejects(t.send({ channel: 'sms', to: '+31612345678', text: 'x' }), /SMS gateway unreachable/);
    });
  });

  describe('SMS recipient policy', () => {
    it('normalises national numbers in the default region and refuses other countries', () => {
      assert.equal(normalizeSmsRecipient('06-12345678', policy), '+31612345678');
      assert.equal(normalizeSmsRecipient('+49 1512 3456789', policy), '+4915123456789');
      assert.throws(() => normalizeSmsRecipient('+1 212 555 0100', policy), PermanentDeliveryError);
    });

    it('also guards the outbox', async () => {
      const sent: string[] = [];
      const inner: Transport = { async send(m) { sent.push(m.to); } };
      const guarded = withSmsRecipientPolicy(inner, policy);
      await guarded.send({ channel: 'sms', to: '0612345678', text: 'x' });
      await assert.rejects(guarded.send({ channel: 'sms', to: '+44 20 7946 0958', text: 'x' }), PermanentDeliveryError);
      assert.deepEqual(sent, ['+31612345678']);
    });
  });
});

describe('the test SMTP server (helpers.ts)', () => {
  it('a client reset in the middle of a message is recorded, not thrown at the test run (the crash tests kill the server while it sends)', async () => {
    const smtp = await startSmtpServer();
    try {
      const socket = connect(smtp.port, '127.0.0.1');
      socket.on('error', () => undefined);
      const said = (pattern: RegExp) => new Promise<void>((resolve) => {
        let seen = '';
        const onData = (c: Buffer) => {
          seen += c.toString('latin1');
          if (pattern.test(seen)) { socket.off('data', onData); resolve(); }
        };
        socket.on('data', onData);
      });
      await said(/^220 /m);
      for (const [command, answer] of [['EHLO test', /^250 /m], ['MAIL FROM:<a@example.org>', /^250 /m], ['RCPT TO:<b@example.org>', /^250 /m], ['DATA', /^354 /m]] as const) {
        const done = said(answer);
        socket.write(`${command}\r\n`);
        await done;
      }
      socket.write('Subject: half a message\r\n\r\nthe rest never comes');
      socket.resetAndDestroy();
      await waitFor(() => smtp.errors.length > 0, 5_000);
      assert.match(smtp.errors[0]!.message, /ECONNRESET|socket|closed/i);
    } finally {
      await smtp.close();
    }
  });
});
