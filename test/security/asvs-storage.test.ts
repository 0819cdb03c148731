/**
 * Storage of secrets: ASVS 5.0 V11.4.2 (password hashing), V11.3.2 (TOTP seeds sealed) and V16.2.5
 * (no credential in logs), plus the audit log and the delivery queue. The server runs with the
 * product's default argon2id parameters (not the cheap test ones) and a logger at `trace` whose every
 * line is kept.
 */
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { generate } from 'otplib';
import pino from 'pino';
import { createApp, type App } from '../../src/app.ts';
import { configSchema, type ConfigInput } from '../../src/config/schema.ts';
import { Browser, inputByAutocomplete, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { TEST_SECRETS, freePort } from '../support/server.ts';
import { seedUser } from '../support/users.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import { totpSecret } from '../support/methods.ts';

const ARGON2ID = /^\$argon2id\$v=19\$([a-z0-9=,]+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/** The parts of a PHC string: parameters by name, salt and tag. */
function phc(hash: string): { m: number; t: number; p: number; salt: string; tag: string } {
  const match = ARGON2ID.exec(hash);
  assert.ok(match, `an argon2id PHC string: ${hash}`);
  const params = Object.fromEntries(match[1].split(',').map((kv) => kv.split('=')).map(([k, v]) => [k, Number(v)]));
  return { m: params.m, t: params.t, p: params.p, salt: match[2], tag: match[3] };
}
/** A secret as a whole token: not a piece of a longer number or id. */
const token = (s: string) => new RegExp(`(?<![\\w])${s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?![\\w])`);

describe('ASVS 5.0 V11.4 / V16.2 storage of secrets', function () {
  const db = createSqliteDatabase();
  const clock = new TestClock();
  const lines: string[] = [];
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let app: App;
  let issuer: string;
  let defaults: ReturnType<typeof configSchema.parse>['password_hashing'];

  before(async () => {
    smtp = await startSmtpServer();
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    const input: ConfigInput = {
      issuer, port, database: db.url, demo: false, secrets: TEST_SECRETS,
      password_policy: { min_length: 12, min_strength: 2 },
      clients: [{ client_id: 'test-app', client_secret: 'test-app-secret-0123456789', redirect_uris: ['http://127.0.0.1:1/cb'], post_logout_redirect_uris: ['http://127.0.0.1:1/'] }],
      delivery: { outbox_dir: `${db.dir}/outbox`, email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
      sspr: { enabled_for: 'all', methods: ['email', 'totp'], methods_required: 1 },
    };
    const config = configSchema.parse(input);
    defaults = config.password_hashing;
    // Everything the app logs, at every level.
    const log = pino({ level: 'trace' }, { write: (line: string) => { lines.push(line); } });
    app = await createApp({ config, clock, log });
    await app.listen(port);
  });
  after(async () => { await app?.close(); await smtp?.close(); await db.drop(); });

  const storedHash = async (id: string) => (await app.store.models.Account.findByPk(id))!.passwordHash!;

  it('V11.4.2 passwords are stored with argon2id and the pinned parameters (19 MiB, t=2, p=1), read back from the stored hash', async () => {
    assert.deepEqual(defaults, { memory_kib: 19456, time_cost: 2, parallelism: 1 }, 'the OWASP parameters are the default');
    const user = await seedUser(app, { login: 'hashed' });
    const h = phc(await storedHash(user.id));
    assert.deepEqual([h.m, h.t, h.p], [defaults.memory_kib, defaults.time_cost, defaults.parallelism]);
    assert.ok(Buffer.from(h.tag, 'base64').length >= 32, 'a 256-bit tag');

    // A hash made with weaker parameters is replaced by a pinned one at the next sign-in.
    const weak = await argon2.hash(user.password, { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
    await app.store.models.Account.update({ passwordHash: weak }, { where: { id: user.id } });
    assert.equal(await app.directory.verifyPassword(user.id, user.password), true);
    const upgraded = phc(await storedHash(user.id));
    assert.deepEqual([upgraded.m, upgraded.t, upgraded.p], [defaults.memory_kib, defaults.time_cost, defaults.parallelism]);
  });

  it('V11.4.2 every password hash has its own random salt of at least 128 bits', async () => {
    const a = await seedUser(app, { login: 'salt-a', password: 'one shared password 77' });
    const b = await seedUser(app, { login: 'salt-b', password: 'one shared password 77' });
    const [ha, hb] = [phc(await storedHash(a.id)), phc(await storedHash(b.id))];
    assert.ok(Buffer.from(ha.salt, 'base64').length >= 16);
    assert.notEqual(ha.salt, hb.salt, 'different salts');
    assert.notEqual(ha.tag, hb.tag, 'so different hashes for one password');
  });

  it('V16.2.5 no password, one-time code or TOTP secret reaches the log, the audit log, or a message row once sent', async () => {
    const secrets: string[] = [];
    const user = await seedUser(app, { login: 'quiet-user', password: 'quiet lantern oboe 5521' });
    secrets.push(user.password, 'wrong lantern oboe 5521');
    const rp = await relyingParty(issuer);

    // A failed and a successful sign-in; the success is interrupted by registration: TOTP, with a wrong code first.
    const b0 = new Browser();
    await signIn(b0, (await rp.start(b0)).page, user.login, 'wrong lantern oboe 5521');
    const b = new Browser();
    const landed = await signIn(b, (await rp.start(b)).page, user.login, user.password);
    assert.match(landed.url, /\/register/);
    const totpPage = await b.submit(landed, { method: 'totp' }, { actionPart: '/method' });
    const secret = /id="totp-secret">([\s\S]*?)<\/code>/.exec(totpPage.html)![1].replace(/<[^>]+>/g, '');
    secrets.push(secret);
    const totp = await generate({ secret, epoch: Math.floor(clock.now().getTime() / 1000) });
    secrets.push(totp);
    await b.submit(totpPage, { code: totp === '000000' ? '111111' : '000000' }, { actionPart: '/verify' });
    let page: Page & { redirectedTo?: string } = await b.submit(totpPage, { code: totp }, { actionPart: '/verify' });
    page = await consentIfAsked(b, await b.submit(page, {}, { actionPart: '/finish' }));
    assert.ok(page.redirectedTo, 'registered and back at the client');

    // A reset by email code (a wrong code first), to a new password.
    await app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: 'quiet@example.net' });
    const r = new Browser();
    const start = await r.get(`${issuer}/reset`);
    const method = await r.submit(start, { [inputByAutocomplete(start.html, 'username')]: user.login });
    const since = smtp.received.length;
    const codePage = await r.submit(await r.submit(method, { method: 'email' }), { target: 'quiet@example.net' });
    await waitFor(() => smtp.received.length > since);
    const code = smtp.received.at(-1)!.text.match(CODE_RUN)![0];
    secrets.push(code);
    const wrongCode = code === '999999' ? '888888' : '999999';
    await r.submit(codePage, { code: wrongCode });
    const pw = await r.submit(codePage, { code });
    assert.match(pw.url, /\/reset\/password$/);
    const fresh = 'brand new quiet harbour 8842';
    secrets.push(fresh);
    const done = await r.submit(pw, { new_password: fresh, confirm_password: fresh });
    assert.match(done.url, /\/reset\/done$/);

    const { AuditEvent, Delivery } = app.store.models;
    // The notice of the reset and the code mail have left: their rows keep no text.
    await waitFor(() => smtp.received.length >= since + 2);
    for (let i = 0; i < 100 && (await Delivery.count({ where: { status: ['pending', 'sending'] } })) > 0; i++) await new Promise((res) => setTimeout(res, 20));
    const deliveries = await Delivery.findAll({ raw: true });
    assert.ok(deliveries.length >= 2 && deliveries.every((d) => d.status === 'sent'), 'every message sent');

    const places: Record<string, string> = {
      log: lines.join(''),
      audit: JSON.stringify(await AuditEvent.findAll({ raw: true })),
      deliveries: JSON.stringify(deliveries),
    };
    assert.match(places.log, /reset step refused/, 'the wrong code was logged (without the code)');
    for (const [where, text] of Object.entries(places)) {
      for (const s of secrets) assert.doesNotMatch(text, token(s), `${s} in ${where}`);
    }
  });

  it('V11.3.2 TOTP seeds are stored sealed with AES-256-GCM, bound to their purpose; never in the clear', async () => {
    const user = await seedUser(app, { login: 'sealed' });
    const enrolled = await totpSecret(app, 'sealed');
    await app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'totp', secretEnc: enrolled.secretEnc });
    const rows = JSON.stringify(await app.store.models.RecoveryMethod.findAll({ where: { accountId: user.id }, raw: true }));
    assert.doesNotMatch(rows, new RegExp(enrolled.secret));
    const [method] = await app.sspr.methodRepo.listVerified(user.id);
    assert.match(method.secretEnc!, /^v1\.[\w-]+\.[\w-]{16}\.[\w-]+$/, 'v1.<key id>.<96-bit IV>.<ciphertext+tag>');
    assert.equal(app.sspr.secretBox.open(method.secretEnc!, 'totp-secret'), enrolled.secret);
    assert.throws(() => app.sspr.secretBox.open(method.secretEnc!, 'another purpose'), 'the AAD binds it to TOTP');
    const tampered = method.secretEnc!.slice(0, -2) + (method.secretEnc!.endsWith('AA') ? 'BB' : 'AA');
    assert.throws(() => app.sspr.secretBox.open(tampered, 'totp-secret'), 'the GCM tag refuses a modified seed');
  });
});
