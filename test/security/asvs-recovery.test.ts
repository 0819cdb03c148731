import { Op } from 'sequelize';
/**
 * Forgotten-password recovery: ASVS 5.0 V6.3.8 (no account enumeration, also by the work done),
 * V6.4.2/V6.4.3 (no secret questions; a reset that bypasses nothing and changes nothing else),
 * V6.3.7 (the user is told) and V7.4.3 (every session, grant and token ends).
 */
import assert from 'node:assert/strict';
import argon2 from 'argon2';
import * as client from 'openid-client';
import { generate } from 'otplib';
import { METHOD_TYPES, configSchema } from '../../src/config/schema.ts';
import { Browser, attr, findForm, inputByAutocomplete, link, messageIds, type Page } from '../support/browser.ts';
import { TestClock } from '../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startGateway, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';
import { totpSecret, typedMethods } from '../support/methods.ts';

type Followed = Page & { redirectedTo?: string };
const NEW_PASSWORD = 'violet tractor lantern oboe 93';

/** Page bodies with per-flow tokens and ids taken out. */
const shape = (html: string) => html.replace(/name="csrf" value="[^"]+"/g, 'name="csrf"').replace(/\/interaction\/[\w-]+/g, '/interaction/X');
/** Response headers as an attacker compares them: names and values, with per-request values blanked. */
function headerShape(h: Headers): string[] {
  const out: string[] = [];
  h.forEach((value, name) => {
    if (name === 'date' || name === 'set-cookie' || name === 'keep-alive' || name === 'connection') return;
    out.push(`${name}: ${value}`);
  });
  for (const c of h.getSetCookie()) out.push(`set-cookie: ${c.replace(/=[^;]*/, '=X').replace(/expires=[^;]+/i, 'expires=X')}`);
  return out.sort();
}

describe('ASVS 5.0 V6.3 / V6.4 / V7.4.3 forgotten-password recovery', function () {
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let gateway: Awaited<ReturnType<typeof startGateway>>;
  const clock = new TestClock();
  const issued: Array<{ flowId: string; code: string }> = [];
  let n = 0;

  before(async () => {
    smtp = await startSmtpServer();
    gateway = await startGateway();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      clock,
      overrides: {
        delivery: {
          outbox_dir: `${db.dir}/outbox`,
          email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
          sms: { transport: 'http', http: { url: gateway.url } },
        },
        sspr: { enabled_for: 'selected', groups: ['staff'], methods: ['email', 'sms', 'totp'], methods_required: 1 },
      },
    });
    const codes = srv.app.sspr.codes;
    const issue = codes.issue;
    codes.issue = async (input, t) => {
      const out = await issue(input, t);
      issued.push({ flowId: input.flowId, code: out.code });
      return out;
    };
  });
  after(async () => { await srv?.close(); await smtp?.close(); await gateway?.close(); await db?.drop(); });
  // Wrong codes block the IP too: every test starts past the previous one's windows.
  beforeEach(() => clock.advance('3d'));

  const flowIdOf = (b: Browser) => b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];
  const latestCode = (b: Browser) => issued.filter((i) => i.flowId === flowIdOf(b)).at(-1)!.code;
  const submitIdentifier = (b: Browser, page: Page, login: string) => b.submit(page, { [inputByAutocomplete(page.html, 'username')]: login });
  const submitCode = (b: Browser, page: Page, code: string) => b.submit(page, { [inputByAutocomplete(page.html, 'one-time-code')]: code });
  function submitPassword(b: Browser, page: Page, password: string) {
    const names = [...page.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
    return b.submit(page, { [names[0]]: password, [names[1]]: password });
  }

  async function staffUser(opts: { admin?: boolean; phone?: boolean; login?: string } = {}): Promise<SeededUser & { recovery: string }> {
    const user = await seedUser(srv.app, { login: opts.login ?? `rec-user-${++n}`, admin: opts.admin, groups: ['staff'] });
    const recovery = `${user.login}@example.net`;
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
    if (opts.phone) await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'sms', target: '+31612345678' });
    return { ...user, recovery };
  }

  /** Identifier → email → address → code page. */
  async function emailCodePage(b: Browser, start: Page, login: string, address: string): Promise<Followed> {
    const method = await submitIdentifier(b, start, login);
    return b.submit(await b.submit(method, { method: 'email' }), { target: address });
  }

  /** The five kinds of identifier an attacker can type; logins of one length, so masked echoes match. */
  async function fiveKinds() {
    const tag = String(++n).padStart(3, '0');
    const real = await staffUser({ login: `e${tag}real` });
    const disabled = await staffUser({ login: `e${tag}disa` });
    await srv.app.store.models.Account.update({ disabled: true }, { where: { id: disabled.id } });
    const outside = await seedUser(srv.app, { login: `e${tag}oscp` }); // not in the "staff" group
    await srv.app.sspr.methodRepo.saveVerified({ accountId: outside.id, type: 'email', target: `${outside.login}@example.net` });
    const bare = await seedUser(srv.app, { login: `e${tag}bare`, groups: ['staff'] }); // in scope, nothing registered
    return [
      { kind: 'known', login: real.login, address: real.recovery, id: real.id },
      { kind: 'unknown', login: `e${tag}none`, address: `e${tag}none@example.net`, id: null },
      { kind: 'disabled', login: disabled.login, address: disabled.recovery, id: disabled.id },
      { kind: 'out-of-scope', login: outside.login, address: `${outside.login}@example.net`, id: outside.id },
      { kind: 'unregistered', login: bare.login, address: `${bare.login}@example.net`, id: bare.id },
    ];
  }

  it('V6.3.8 the reset reveals no account: known, unknown, disabled, out-of-scope and unregistered ids get the same pages, statuses and headers', async () => {
    const runs: Array<{ kind: string; statuses: number[]; pages: string[]; headers: string[][] }> = [];
    for (const c of await fiveKinds()) {
      clock.advance('1d');
      const b = new Browser();
      const start = await b.get(`${srv.issuer}/reset`);
      const method = await submitIdentifier(b, start, c.login);
      const target = await b.submit(method, { method: 'email' });
      const code = await b.submit(target, { target: c.address });
      const wrong = await submitCode(b, code, '000000');
      const steps = [start, method, target, code, wrong];
      runs.push({ kind: c.kind, statuses: steps.map((p) => p.status), pages: steps.map((p) => shape(p.html)), headers: steps.map((p) => headerShape(p.headers)) });
    }
    assert.deepEqual(runs[0].statuses, [200, 200, 200, 200, 400]);
    for (const r of runs.slice(1)) {
      assert.deepEqual(r.statuses, runs[0].statuses, `${r.kind}: statuses`);
      assert.deepEqual(r.pages, runs[0].pages, `${r.kind}: pages`);
      assert.deepEqual(r.headers, runs[0].headers, `${r.kind}: headers`);
    }
  });

  it('V6.3.8 the reset does the same work for every kind of id: one code issued, the same throttle counters, audit steps and TOTP check', async () => {
    const { OneTimeCode, Throttle, AuditEvent, Delivery } = srv.app.store.models;
    const totp = typedMethods(srv.app.sspr.methods).totp;
    const prove = totp.prove;
    let totpChecks = 0;
    totp.prove = async (...args) => { totpChecks++; return prove(...args); };
    try {
      const work: Array<{ kind: string; codes: number; throttles: number; audit: string[]; totpChecks: number }> = [];
      const kinds = await fiveKinds();
      for (const c of kinds) {
        clock.advance('1d');
        const b = new Browser();
        await submitCode(b, await emailCodePage(b, await b.get(`${srv.issuer}/reset`), c.login, c.address), '000000');
        const flowId = flowIdOf(b);
        const t = new Browser();
        const totpPage = await t.submit(await submitIdentifier(t, await t.get(`${srv.issuer}/reset`), c.login), { method: 'totp' });
        const before = totpChecks;
        await submitCode(t, totpPage, '123456');
        // Wrong codes count on the account once the id resolves to one that can reset, else on the id as typed.
        const keys = (await Throttle.findAll({ raw: true })).map((r) => r.key).filter((k) => k.includes(c.login) || (c.id !== null && k.includes(`acct:${c.id}`)));
        work.push({
          kind: c.kind,
          codes: await OneTimeCode.count({ where: { flowId } }),
          throttles: keys.length,
          // The delivery worker's own event (`sspr.notice.sent`) comes whenever it runs: timing, not work of the request.
          audit: (await AuditEvent.findAll({ where: { correlationId: flowId }, raw: true })).map((e) => e.activity).filter((a) => !a.startsWith('sspr.notice.')).sort(),
          totpChecks: totpChecks - before,
        });
      }
      assert.deepEqual(work[0], { kind: 'known', codes: 1, throttles: work[0].throttles, audit: ['sspr.reset.code_sent', 'sspr.reset.failed', 'sspr.reset.started'], totpChecks: 1 });
      assert.ok(work[0].throttles >= 3);
      for (const w of work.slice(1)) assert.deepEqual({ ...w, kind: 'known' }, work[0], `${w.kind} does the same work`);
      // Only the real account's message is queued (after the response, by the worker).
      assert.equal(await Delivery.count({ where: { recipient: kinds[0].address } }), 1);
      for (const c of kinds.slice(1)) assert.equal(await Delivery.count({ where: { recipient: c.address } }), 0, c.kind);
    } finally {
      totp.prove = prove;
    }
  });

  it('V6.3.8 sign-in reveals no account: unknown, disabled and wrong-password answers match, each after one argon2 verification', async () => {
    const real = await staffUser();
    const disabled = await staffUser();
    await srv.app.store.models.Account.update({ disabled: true }, { where: { id: disabled.id } });
    const original = argon2.verify;
    let verifications = 0;
    (argon2 as { verify: typeof argon2.verify }).verify = async (...args) => { verifications++; return original(...args); };
    try {
      const rp = await relyingParty(srv.issuer);
      const runs: Array<{ status: number; page: string; verifications: number }> = [];
      for (const [login, password] of [[real.login, 'not the password 1234'], ['nobody-at-all', 'not the password 1234'], [disabled.login, disabled.password]]) {
        const b = new Browser();
        const { page } = await rp.start(b);
        const before = verifications;
        const answer = await signIn(b, page, login, password);
        runs.push({ status: answer.status, page: shape(answer.html).replace(/value="[^"]*"/g, ''), verifications: verifications - before });
      }
      assert.deepEqual(runs[0], { ...runs[0], status: 401, verifications: 1 });
      assert.deepEqual(runs[1], runs[0], 'unknown user: same answer, same work');
      assert.deepEqual(runs[2], runs[0], 'disabled user: same answer, same work');
    } finally {
      (argon2 as { verify: typeof argon2.verify }).verify = original;
    }
  });

  it('V6.4.3 a reset never bypasses the second method when two are required', async () => {
    const admin = await staffUser({ admin: true });
    const e = await totpSecret(srv.app, 'x');
    await srv.app.sspr.methodRepo.saveVerified({ accountId: admin.id, type: 'totp', secretEnc: e.secretEnc });
    const b = new Browser();
    const codePage = await emailCodePage(b, await b.get(`${srv.issuer}/reset`), admin.login, admin.recovery);
    const second = await submitCode(b, codePage, latestCode(b));
    assert.match(second.url, /\/reset\/method$/, 'one proven method is not enough for an administrator');
    assert.doesNotMatch(second.html, /value="email"/, 'the second method must be of another type');
    // Straight to the password step: refused, nothing changed.
    const csrf = findForm(second.html).hidden.csrf;
    for (const path of ['/reset/password', '/reset/code']) {
      const early = await b.request(`${srv.issuer}${path}`, { body: new URLSearchParams({ csrf, new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD, code: latestCode(b) }).toString() });
      assert.equal(early.status, 400, path);
    }
    assert.equal(await srv.app.directory.verifyPassword(admin.id, admin.password), true, 'password unchanged');
    const pw = await submitCode(b, await b.submit(second, { method: 'totp' }), await generate({ secret: e.secret, epoch: Math.floor(clock.now().getTime() / 1000) }));
    assert.match(pw.url, /\/reset\/password$/, 'with the second method it goes on');
  });

  it('V6.4.3 a reset never adds, removes or re-enrols recovery methods, and changes only the password', async () => {
    const user = await staffUser({ phone: true });
    const { RecoveryMethod, Account } = srv.app.store.models;
    const methods = async () => JSON.stringify(await RecoveryMethod.findAll({ where: { accountId: user.id }, order: [['type', 'ASC']], raw: true }));
    // The credentials epoch moves with the password: it is what ends the old sessions.
    const account = async () => { const { passwordHash: _h, passwordChangedAt: _c, updatedAt: _u, credentialsEpoch: _e, ...rest } = (await Account.findByPk(user.id, { raw: true }))! as unknown as Record<string, unknown>; return rest; };
    const [methodsBefore, accountBefore] = [await methods(), await account()];
    const b = new Browser();
    const codePage = await emailCodePage(b, await b.get(`${srv.issuer}/reset`), user.login, user.recovery);
    const page = await submitCode(b, codePage, latestCode(b));
    const done = await submitPassword(b, page, NEW_PASSWORD);
    assert.match(done.url, /\/reset\/done$/);
    assert.equal(await methods(), methodsBefore, 'the same method rows, untouched');
    assert.deepEqual(await account(), accountBefore, 'nothing but the password changed');
    assert.equal(await srv.app.directory.verifyPassword(user.id, NEW_PASSWORD), true);
  });

  it('V6.4.3 reset requests never lock or change the account: password sign-in works while its self-service reset is blocked', async () => {
    const user = await staffUser();
    const row = async () => JSON.stringify(await srv.app.store.models.Account.findByPk(user.id, { raw: true }));
    const before = await row();
    const b = new Browser();
    let page: Followed = await emailCodePage(b, await b.get(`${srv.issuer}/reset`), user.login, user.recovery);
    for (let i = 0; i <= srv.config.sspr.throttle.failed_verifications.max; i++) page = await submitCode(b, page, '000000');
    assert.equal(page.status, 429, 'the self-service reset is blocked');
    const other = new Browser();
    assert.equal((await submitIdentifier(other, await other.get(`${srv.issuer}/reset`), user.login)).status, 429, 'for a new flow too');
    assert.equal(await row(), before, 'the account row is untouched (not disabled, not locked, same password)');
    const rp = await relyingParty(srv.issuer);
    const s = new Browser();
    const landed = await consentIfAsked(s, await signIn(s, (await rp.start(s)).page, user.login, user.password));
    assert.ok(landed.redirectedTo?.startsWith(rp.redirectUri), `password sign-in still works: ${landed.status} ${landed.url}`);
  });

  it('V6.4.3 nobody is signed in by a reset: it ends on the sign-in page of the same request, without a session', async () => {
    const user = await staffUser();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const { page } = await rp.start(b);
    const start = await b.get(new URL(link(page.html, 'forgot-password'), srv.issuer).toString());
    const pw = await submitCode(b, await emailCodePage(b, start, user.login, user.recovery), latestCode(b));
    const back = await submitPassword(b, pw, NEW_PASSWORD);
    assert.equal(back.status, 200);
    assert.deepEqual(messageIds(back.html), ['reset:done.sign_in']);
    assert.match(back.html, /autocomplete="current-password"/, 'the sign-in page asks for the new password');
    assert.ok(!b.cookies.some((c) => c.name === '_session'), 'no session cookie was set');
    assert.equal(await srv.app.store.models.OidcPayload.count({ where: { model: 'Session', accountId: user.id } }), 0, 'no session row');
    const silent = await rp.start(b, { prompt: 'none' });
    assert.match(silent.page.redirectedTo ?? '', /error=login_required/);
  });

  it('V6.3.7 the user is notified of a reset on every registered channel', async () => {
    const user = await staffUser({ phone: true });
    const [mails, texts] = [smtp.received.length, gateway.requests.length];
    const b = new Browser();
    const pw = await submitCode(b, await emailCodePage(b, await b.get(`${srv.issuer}/reset`), user.login, user.recovery), latestCode(b));
    assert.match((await submitPassword(b, pw, NEW_PASSWORD)).url, /\/reset\/done$/);
    await waitFor(() => smtp.received.slice(mails).some((m) => m.to.includes(user.recovery) && /password was changed/.test(m.headers.subject ?? '')));
    await waitFor(() => gateway.requests.slice(texts).some((r) => r.body.includes('+31612345678')));
    const notice = gateway.requests.slice(texts).map((r) => JSON.parse(r.body) as { to: string; text: string }).find((r) => r.to === '+31612345678')!;
    assert.doesNotMatch(notice.text, CODE_RUN, 'a notice, not a code');
  });

  it('V7.4.3 a reset ends every session, grant and token of the account', async () => {
    const user = await staffUser();
    const rp = await relyingParty(srv.issuer);
    const b = new Browser();
    const first = await rp.start(b);
    const tokens = await rp.finish((await consentIfAsked(b, await signIn(b, first.page, user.login, user.password))).redirectedTo!, first.verifier, first.state);
    assert.ok(tokens.refresh_token);
    const { OidcPayload } = srv.app.store.models;
    // Sessions and grants carry the account; codes and tokens are found through their grant.
    const grantIds = (await OidcPayload.findAll({ attributes: ['id'], where: { model: 'Grant', accountId: user.id } })).map((g) => g.id);
    const accountRows = () => OidcPayload.count({ where: { [Op.or]: [{ accountId: user.id }, { grantId: { [Op.in]: grantIds } }] } });
    assert.ok(grantIds.length >= 1, 'a grant exists');
    assert.ok((await accountRows()) >= 4, 'session, grant, code and tokens exist');

    const r = new Browser();
    const pw = await submitCode(r, await emailCodePage(r, await r.get(`${srv.issuer}/reset`), user.login, user.recovery), latestCode(r));
    assert.match((await submitPassword(r, pw, NEW_PASSWORD)).url, /\/reset\/done$/);

    await assert.rejects(client.refreshTokenGrant(rp.config, tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant', 'refresh token revoked');
    await assert.rejects(client.fetchUserInfo(rp.config, tokens.access_token, user.id), 'access token revoked');
    const silent = await rp.start(b, { prompt: 'none' });
    assert.match(silent.page.redirectedTo ?? '', /error=login_required/, 'session ended');
    assert.equal(await accountRows(), 0, 'nothing of the account is left');
  });

  it('V6.4.2 there are no password hints or security questions', () => {
    // Recovery codes and passkeys are something the user holds, like the app: no hint, no question.
    assert.deepEqual([...METHOD_TYPES], ['email', 'sms', 'totp', 'recovery_codes', 'passkey']);
    assert.equal(configSchema.safeParse({ sspr: { methods: ['email', 'questions'] } }).success, false);
    const columns = Object.keys(srv.app.store.models.Account.getAttributes()).join(' ');
    assert.doesNotMatch(columns, /hint|question|answer/i);
  });
});
