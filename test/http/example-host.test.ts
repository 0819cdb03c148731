import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { join } from 'node:path';
import * as client from 'openid-client';
import pino from 'pino';
import { createExampleServer } from '../../examples/existing-provider/server.ts';
import { Browser, attr, inputByAutocomplete, link, messageIds, type Page } from '../support/browser.ts';
import { createSqliteDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { freePort, TEST_SECRETS } from '../support/server.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

type Followed = Page & { redirectedTo?: string };

const PASSWORD = 'correct horse battery staple 42';
const NEW_PASSWORD = 'violet tractor lantern oboe 93';
const RECOVERY = 'ann.recovery@example.net';

/**
 * The example in examples/existing-provider: an oidc-provider app with its own accounts, storage,
 * login and consent pages, plus oidc-sspr. Driven like a browser and a relying party would.
 */
describe('example host: oidc-sspr added to an existing oidc-provider (HTTP)', function () {
  let smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  let db: ReturnType<typeof createSqliteDatabase>;
  let example: Awaited<ReturnType<typeof createExampleServer>>;
  let server: Server;
  let rp: RelyingParty;
  let accountId: string;
  // Signed in at the end of the first test; the reset in the second must end all of it.
  let earlier: { browser: Browser; tokens: client.TokenEndpointResponse };

  before(async () => {
    smtp = await startSmtpServer();
    db = createSqliteDatabase();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    example = await createExampleServer({
      issuer,
      clients: [{ client_id: 'test-app', client_secret: 'test-app-secret-0123456789', redirect_uris: ['http://127.0.0.1:1/cb'], grant_types: ['authorization_code', 'refresh_token'] }],
      sspr: {
        database: db.url,
        log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
        config: {
          sspr: { enabled_for: 'all', methods: ['email', 'totp'] },
          delivery: { outbox_dir: join(db.dir, 'outbox'), email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
          password_policy: { min_length: 12, min_strength: 2 },
          secrets: TEST_SECRETS,
        },
      },
    });
    server = example.provider.listen(port, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    accountId = (await example.accounts.add({ login: 'ann', password: PASSWORD, email: 'ann@example.org' })).id;
    rp = await relyingParty(issuer);
  });

  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server ? server.close(resolve) : resolve(undefined));
    await example?.sspr.stop();
    await smtp?.close();
    await db?.drop();
  });

  /** The code in the newest mail to `to` that arrived after `since` mails. */
  async function mailedCode(to: string, since: number): Promise<string> {
    const mine = () => smtp.received.slice(since).filter((m) => m.to.includes(to) && m.text.match(CODE_RUN) !== null);
    await waitFor(() => mine().length > 0, 10_000);
    return mine().at(-1)!.text.match(CODE_RUN)![0];
  }

  function assertAt(page: Followed, path: RegExp): void {
    assert.equal(page.status, 200, `expected a page at ${path}, got ${page.status} ${page.url}: ${page.html.slice(0, 600)}`);
    assert.match(new URL(page.url).pathname, path);
  }

  it("interrupts a sign-in on the host's own login page for registration; an emailed code registers the method, then tokens", async () => {
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);
    assert.match(page.html, /<title>Sign in<\/title>/, "the host's login page");

    const register = await signIn(browser, page, 'ann', PASSWORD);
    assertAt(register, /^\/interaction\/[\w-]+\/register$/);
    assert.match(register.html, /type="radio"[^>]*name="method" value="email"/);

    const target = await browser.submit(register, { method: 'email' }, { actionPart: '/method' });
    const since = smtp.received.length;
    const codePage = await browser.submit(target, { [inputByAutocomplete(target.html, 'email')]: RECOVERY }, { actionPart: '/target' });
    assert.match(codePage.html, /autocomplete="one-time-code"/);
    const code = await mailedCode(RECOVERY, since);
    const registered = await browser.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: code }, { actionPart: '/verify' });
    assertAt(registered, /\/register$/);
    assert.ok(messageIds(registered.html).includes('registration:added'));

    const consent = await browser.submit(registered, {}, { actionPart: '/finish' });
    assert.match(consent.html, /<title>Allow access<\/title>/, "the host's consent page");
    const done = await consentIfAsked(browser, consent);
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `expected the client's callback, got ${done.status} ${done.url}`);
    const tokens = await rp.finish(done.redirectedTo!, verifier, state);
    assert.equal(tokens.claims()!.sub, accountId);
    assert.ok(tokens.refresh_token);

    const methods = await example.sspr.deps.methodRepo.listVerified(accountId);
    assert.deepEqual(methods.map((m) => [m.type, m.target]), [['email', RECOVERY]]);
    earlier = { browser, tokens };
  });

  it("/account/security lists the host's own sessions (its AccountDirectory port) and signs out the other browser only", async () => {
    assert.ok(earlier, 'needs the sign-in of the previous test');
    const issuer = example.provider.issuer;
    const listed = (html: string) => [...html.matchAll(/<ul class="sessions">([\s\S]*?)<\/ul>/g)].flatMap((m) => [...m[1].matchAll(/<li([^>]*)>/g)].map((li) => li[1]));
    const phone = new Browser();
    const started = await rp.start(phone);
    const done = await consentIfAsked(phone, await signIn(phone, started.page, 'ann', PASSWORD));
    const phoneTokens = await rp.finish(done.redirectedTo!, started.verifier, started.state);

    const page = await earlier.browser.get(`${issuer}/account/security`);
    assert.equal(page.status, 200);
    const items = listed(page.html);
    assert.equal(items.length, 2, "both of the host's sessions");
    assert.equal(items.filter((attrs) => attrs.includes('data-current="true"')).length, 1);
    assert.match(page.html, /test-app/);

    const after = await earlier.browser.submit(page, {}, { actionPart: 'sessions/end-others' });
    assert.deepEqual(messageIds(after.html), ['registration:sessions_ended']);
    assert.equal(listed(after.html).length, 1, 'only this browser is left');
    assert.equal((await phone.get(`${issuer}/account/security`)).status, 401);
    await assert.rejects(client.refreshTokenGrant(rp.config, phoneTokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    // The kept session's grant was stamped with the new epoch: its refresh token still works.
    const refreshed = await client.refreshTokenGrant(rp.config, earlier.tokens.refresh_token!);
    assert.ok(refreshed.access_token);
    earlier = { ...earlier, tokens: { ...earlier.tokens, refresh_token: refreshed.refresh_token ?? earlier.tokens.refresh_token } as client.TokenEndpointResponse };
  });

  it('/account/security still works for a host whose directory offers no sessions: no sessions section, no sign-out elsewhere', async () => {
    assert.ok(earlier, 'needs the sign-in of the first test');
    const issuer = example.provider.issuer;
    const directory = example.sspr.deps.directory;
    const { listSessions, endOtherSessions } = directory;
    // The same host without the two optional methods of its AccountDirectory port.
    delete directory.listSessions;
    delete directory.endOtherSessions;
    try {
      const page = await earlier.browser.get(`${issuer}/account/security`);
      assert.equal(page.status, 200);
      assert.doesNotMatch(page.html, /class="sessions"|sessions\/end-others/);
      assert.match(page.html, /type="radio"|\/account\/security\/password/, 'the rest of the page is there');
      const refused = await earlier.browser.request(`${issuer}/account/security/sessions/end-others`, { body: 'csrf=x&flow=y' });
      assert.equal(refused.status, 404);
    } finally {
      Object.assign(directory, { listSessions, endOtherSessions });
    }
  });

  it("resets a forgotten password from the host's login page; the host's sessions and tokens end, the new password signs in", async () => {
    assert.ok(earlier, 'needs the sign-in of the previous test');
    const stillSignedIn = new Browser();
    stillSignedIn.cookies = [...earlier.browser.cookies];
    const browser = new Browser();
    const { page, verifier, state } = await rp.start(browser);

    const identifier = await browser.get(new URL(link(page.html, 'Forgot your password?'), page.url).toString());
    assertAt(identifier, /\/reset$/);
    const method = await browser.submit(identifier, { [inputByAutocomplete(identifier.html, 'username')]: 'ann' });
    const target = await browser.submit(method, { method: 'email' });
    const since = smtp.received.length;
    const codePage = await browser.submit(target, { target: RECOVERY });
    const code = await mailedCode(RECOVERY, since);
    const passwordPage = await browser.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: code });
    assertAt(passwordPage, /\/reset\/password$/);
    const names = [...passwordPage.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
    const signInAgain = await browser.submit(passwordPage, { [names[0]]: NEW_PASSWORD, [names[1]]: NEW_PASSWORD });
    assert.equal(signInAgain.status, 200, `${signInAgain.url}: ${signInAgain.html.slice(0, 600)}`);
    assert.match(signInAgain.url, /\/interaction\/[\w-]+\?reset=done$/, "back on the host's own sign-in page");
    assert.match(signInAgain.html, /Your password was changed/);

    // The host's revokeEverything ran: the earlier refresh and access tokens and the session are gone.
    await assert.rejects(client.refreshTokenGrant(rp.config, earlier.tokens.refresh_token!), (err: { error?: string }) => err.error === 'invalid_grant');
    await assert.rejects(client.fetchUserInfo(rp.config, earlier.tokens.access_token, accountId));
    const silent = await rp.start(stillSignedIn, { prompt: 'none' });
    assert.match(silent.page.redirectedTo ?? '', /error=login_required/);

    // The old password is refused by the host's login route; the new one finishes the same request.
    const refused = await browser.submit(signInAgain, { [inputByAutocomplete(signInAgain.html, 'username')]: 'ann', [inputByAutocomplete(signInAgain.html, 'current-password')]: PASSWORD });
    assert.equal(refused.status, 401);
    const done = await consentIfAsked(browser, await signIn(browser, signInAgain, 'ann', NEW_PASSWORD));
    assert.ok(done.redirectedTo?.startsWith(rp.redirectUri), `expected the client's callback, got ${done.status} ${done.url}: ${done.html.slice(0, 400)}`);
    const tokens = await rp.finish(done.redirectedTo!, verifier, state);
    assert.equal(tokens.claims()!.sub, accountId);
    await waitFor(() => smtp.received.some((m) => m.to.includes(RECOVERY) && /password was changed/.test(m.headers.subject ?? '')), 10_000);
  });

  it("a sign-in parked on the host's login page before a reset does not resume after it (the host wires credentialsEpoch)", async () => {
    const attacker = new Browser();
    const { page } = await rp.start(attacker);
    const form = /<form\b[^>]*action="([^"]*\/login)"/.exec(page.html)!;
    const posted = await attacker.request(new URL(form[1], page.url).toString(), { body: new URLSearchParams({ login: 'ann', password: NEW_PASSWORD }).toString() });
    assert.equal(posted.status, 303, 'the password was accepted');

    const victim = new Browser();
    const identifier = await victim.get(new URL('/reset', page.url).toString());
    const method = await victim.submit(identifier, { [inputByAutocomplete(identifier.html, 'username')]: 'ann' });
    const since = smtp.received.length;
    const codePage = await victim.submit(await victim.submit(method, { method: 'email' }), { target: RECOVERY });
    const passwordPage = await victim.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: await mailedCode(RECOVERY, since) });
    const names = [...passwordPage.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
    const third = `${NEW_PASSWORD} again`;
    assert.equal((await victim.submit(passwordPage, { [names[0]]: third, [names[1]]: third })).status, 200);

    const resumed = await consentIfAsked(attacker, await attacker.follow(new URL(posted.headers.get('location')!, posted.url).toString()));
    assert.equal(resumed.redirectedTo, undefined, `no code for the parked sign-in: ${resumed.redirectedTo}`);
    assert.match(resumed.html, /<title>Sign in<\/title>/, "back on the host's login page");
  });
});
