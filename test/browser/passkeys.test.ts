import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import type { BrowserContext, CDPSession, Page } from 'playwright-core';
import { seedUser } from '../support/users.ts';
import {
  UI, authorizationRequest, backAtClient, mailedCode, newPage, pageChecker, useBrowserEnv, type BrowserEnv, type Lang,
} from './support.ts';

/**
 * Passkeys (issue 20) in a real browser with Chromium's virtual authenticator (DevTools protocol
 * WebAuthn: ctap2, internal transport, resident keys, user verification), in English and Dutch. An
 * administrator (two methods required) registers an email address and a passkey at the sign-in
 * interrupt, resets the password with the passkey plus an email code, signs in without a password,
 * and on /account/security cannot remove the only passkey but can remove a second one. A second
 * authenticator's credential claiming the account is refused; an unknown id choosing "Use a passkey"
 * gets the same pages. Ceremony pages allow our own scripts; other pages none.
 */
const TEXT = {
  en: { passkey: 'Passkey', name: 'Name for the new passkey', create: 'Create a passkey', use: 'Use a passkey', signIn: 'Sign in with a passkey', remove: 'Remove' },
  nl: { passkey: 'Toegangssleutel', name: 'Naam voor de nieuwe toegangssleutel', create: 'Een toegangssleutel maken', use: 'Een toegangssleutel gebruiken', signIn: 'Aanmelden met een toegangssleutel', remove: 'Verwijderen' },
} as const;

interface VirtualAuthenticator { cdp: CDPSession; id: string }

async function addAuthenticator(context: BrowserContext, page: Page): Promise<VirtualAuthenticator> {
  const cdp = await context.newCDPSession(page);
  await cdp.send('WebAuthn.enable');
  const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
    options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true },
  });
  return { cdp, id: authenticatorId };
}

const csp = async (page: Page) => (await page.request.get(page.url())).headers()['content-security-policy'] ?? '';

describe('browser: passkeys with a virtual authenticator (Chromium)', function () {
  this.timeout(120_000);
  let env: BrowserEnv | undefined;

  useBrowserEnv((started) => { env = started; }, { enabled_for: 'all', methods_required: 1, methods: ['email', 'passkey'] }, { localhost: true });

  async function signInWithPassword(page: Page, lang: Lang, login: string, password: string): Promise<void> {
    const T = UI[lang];
    await page.getByLabel(T.username).fill(login);
    await page.getByLabel(T.password, { exact: true }).fill(password);
    await page.getByRole('button', { name: T.signIn, exact: true }).click();
  }

  async function toResetMethod(page: Page, lang: Lang, login: string): Promise<void> {
    const T = UI[lang];
    await page.getByRole('link', { name: T.forgot }).click();
    await page.waitForURL(/\/reset$/);
    await page.getByLabel(T.username).fill(login);
    await page.getByRole('button', { name: T.next, exact: true }).click();
    await page.waitForURL(/\/reset\/method$/);
  }

  async function choose(page: Page, lang: Lang, label: string): Promise<void> {
    await page.getByLabel(label, { exact: true }).check();
    await page.getByRole('button', { name: UI[lang].next, exact: true }).click();
  }

  for (const lang of ['en', 'nl'] as const) {
    const T = UI[lang];
    const X = TEXT[lang];
    const locale = lang === 'nl' ? 'nl-NL' : 'en-GB';

    it(`${lang}: registers a passkey at the interrupt, resets with it plus an email code, signs in without a password, removes a passkey`, async () => {
      const e = env!;
      const shots = pageChecker(lang, 'passkeys');
      const user = await seedUser(e.srv.app, { login: `passkey-admin-${lang}`, admin: true });
      const { context, page, consoleErrors } = await newPage(e, locale);
      try {
        let auth = await addAuthenticator(context, page);
        const request = await authorizationRequest(e);
        await page.goto(request.url);
        assert.match(await csp(page), /script-src 'self'/, 'the sign-in page runs a ceremony');
        assert.equal(await page.getAttribute('#login', 'autocomplete'), 'username webauthn');
        await signInWithPassword(page, lang, user.login, user.password);
        await page.waitForURL(/\/register$/);
        await shots.check(page, 'choose');
        assert.equal(await page.getByRole('radio', { name: X.passkey, exact: true }).count(), 0, 'a passkey is no radio: its own button');

        // Two methods (an administrator): an email address first, then the passkey.
        await choose(page, lang, T.email);
        await page.getByLabel(T.emailAddress).fill(user.email!);
        const since = e.smtp.received.length;
        await page.getByRole('button', { name: T.next, exact: true }).click();
        await page.getByLabel(T.code, { exact: true }).fill((await mailedCode(e, user.email!, since)).code);
        await page.getByRole('button', { name: T.verify, exact: true }).click();
        await page.waitForURL(/\/register\?m=added$/);
        const before = e.smtp.received.length;
        await page.getByLabel(X.name).fill('Laptop');
        await page.getByRole('button', { name: X.create, exact: true }).click();
        await page.waitForURL(/\/register\?m=added$/);
        await page.locator('li[data-method="passkey"]').waitFor();
        await shots.check(page, 'passkey-added');
        assert.match(await page.locator('li[data-method="passkey"]').innerText(), /Laptop/);
        // The user hears of it on the other channel.
        await mailedNotice(e, user.email!, before);
        const { credentials } = await auth.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth.id });
        assert.equal(credentials.length, 1);
        assert.equal(credentials[0]!.isResidentCredential, true, 'a resident key (a passkey)');
        await page.getByRole('button', { name: T.finish, exact: true }).click();
        await page.getByRole('button', { name: T.allow, exact: true }).waitFor();
        assert.doesNotMatch(await csp(page), /script-src/, 'pages without a ceremony (consent) run no script');
        await page.getByRole('button', { name: T.allow, exact: true }).click();
        await request.finish(await backAtClient(e, page));

        // The reset: the passkey, then (two required) an email code. The authenticator is away while
        // the sign-in page is open: its conditional UI (autofill) would sign in at once.
        let exported = credentials[0]!;
        await auth.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: auth.id });
        const reset = await authorizationRequest(e, { prompt: 'login' });
        await page.goto(reset.url);
        await toResetMethod(page, lang, user.login);
        await choose(page, lang, X.passkey);
        await page.waitForURL(/\/reset\/code$/);
        await shots.check(page, 'reset-passkey');
        assert.match(await csp(page), /script-src 'self'/);
        auth = await addAuthenticator(context, page);
        await auth.cdp.send('WebAuthn.addCredential', { authenticatorId: auth.id, credential: exported });
        await page.getByRole('button', { name: X.use, exact: true }).click();
        await page.waitForURL(/\/reset\/method$/);
        // Its sign count moved on: an authenticator put back with the old count would be a clone.
        exported = (await auth.cdp.send('WebAuthn.getCredentials', { authenticatorId: auth.id })).credentials[0]!;
        await auth.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: auth.id });
        await choose(page, lang, T.email);
        await page.locator('#target').fill(user.email!);
        const resetSince = e.smtp.received.length;
        await page.locator('form button[type="submit"]').first().click();
        await page.waitForURL(/\/reset\/code$/);
        await page.locator('input[autocomplete="one-time-code"]').fill((await mailedCode(e, user.email!, resetSince)).code);
        await page.getByRole('button', { name: T.verify, exact: true }).click();
        await page.waitForURL(/\/reset\/password$/);
        const password = `${lang} lantern harbour copper 23`;
        await page.getByLabel(T.newPassword, { exact: true }).fill(password);
        await page.getByLabel(T.confirmPassword, { exact: true }).fill(password);
        await page.getByRole('button', { name: T.resetPassword, exact: true }).click();
        await page.getByLabel(T.password, { exact: true }).waitFor();
        assert.equal(await e.srv.app.directory.verifyPassword(user.id, password), true);

        // Another authenticator whose credential claims this account: refused by the server.
        const stranger = await addAuthenticator(context, page);
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        await stranger.cdp.send('WebAuthn.addCredential', {
          authenticatorId: stranger.id,
          credential: {
            credentialId: randomBytes(16).toString('base64'), isResidentCredential: true, rpId: 'localhost',
            privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'), userHandle: exported.userHandle!, signCount: 0,
          },
        });
        await page.getByRole('button', { name: X.signIn, exact: true }).click();
        await page.locator('[data-message-id="passkey:errors.failed"]').waitFor();
        await shots.check(page, 'foreign-passkey-refused');
        const refused = (await e.srv.app.audit.query({ targetAccountId: user.id })).filter((ev) => ev.activity === 'sspr.passkey.refused');
        assert.deepEqual(refused.map((ev) => ev.reason), ['not_this_accounts_passkey']);
        await stranger.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: stranger.id });

        // The registered passkey again: a passwordless sign-in (the interrupt does not apply: registered).
        auth = await addAuthenticator(context, page);
        await auth.cdp.send('WebAuthn.addCredential', { authenticatorId: auth.id, credential: exported });
        await page.getByRole('button', { name: X.signIn, exact: true }).click();
        await page.getByRole('button', { name: T.allow, exact: true }).click();
        const tokens = await reset.finish(await backAtClient(e, page));
        const claims = tokens.claims()!;
        assert.equal(claims.sub, user.id);
        // The session carries the login result's amr (ID tokens show it once the MFA work adds the claim).
        if (claims.amr !== undefined) assert.deepEqual(claims.amr, ['hwk', 'user']);
        const [sessions] = await e.srv.app.store.sequelize.query("SELECT payload FROM oidc_payloads WHERE model = 'Session' AND account_id = ?", { replacements: [user.id] });
        const amrs = (sessions as Array<{ payload: string }>).map((r) => (JSON.parse(r.payload) as { amr?: string[] }).amr);
        assert.ok(amrs.some((a) => JSON.stringify(a) === '["hwk","user"]'), JSON.stringify(amrs));

        // /account/security: the only passkey cannot go (two types needed); a second one can.
        await page.goto(new URL('/account/security', e.srv.issuer).toString());
        await shots.check(page, 'account-security');
        // Below the policy Remove is not offered at all; the entry says why instead.
        assert.equal(await page.locator('li[data-method="passkey"]').getByRole('link', { name: X.remove }).count(), 0);
        await page.locator('li[data-method="passkey"] [data-cannot-remove="true"]').waitFor();
        await auth.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: auth.id });
        const phone = await addAuthenticator(context, page);
        await page.getByLabel(X.name).fill('Phone');
        await page.getByRole('button', { name: X.create, exact: true }).click();
        await page.waitForURL(/\/account\/security\?m=added$/);
        assert.equal(await page.locator('li[data-method="passkey"]').count(), 2);
        await page.locator('li[data-method="passkey"]', { hasText: 'Phone' }).getByRole('link', { name: X.remove }).click();
        await page.locator('#remove-question').waitFor();
        await page.locator('form button[type="submit"]:not([name])').click();
        await page.waitForURL(/\/account\/security\?m=removed$/);
        await shots.check(page, 'passkey-removed');
        assert.equal(await page.locator('li[data-method="passkey"]').count(), 1);
        assert.match(await page.locator('li[data-method="passkey"]').innerText(), /Laptop/);
        await phone.cdp.send('WebAuthn.removeVirtualAuthenticator', { authenticatorId: phone.id });
        const activities = (await e.srv.app.audit.query({ targetAccountId: user.id })).map((ev) => ev.activity);
        for (const a of ['sspr.passkey.registered', 'sspr.passkey.used', 'sspr.passkey.removed', 'sspr.passkey.refused', 'sspr.registration.method_verified']) {
          assert.ok(activities.includes(a), `${a} audited`);
        }
        // Refusals answer 4xx, which Chromium logs; nothing else may be there (CSP, scripts).
        assert.deepEqual(consoleErrors.filter((m) => !/status of 4\d\d/.test(m)), []);
      } catch (err) {
        await shots.failed(page);
        throw err;
      } finally {
        await context.close();
      }
    });

    it(`${lang}: an unknown id choosing "Use a passkey" gets the same pages and the same refusal`, async () => {
      const e = env!;
      const shots = pageChecker(lang, 'passkey-unknown');
      const { context, page } = await newPage(e, locale);
      try {
        const auth = await addAuthenticator(context, page);
        const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
        await auth.cdp.send('WebAuthn.addCredential', {
          authenticatorId: auth.id,
          credential: {
            credentialId: randomBytes(16).toString('base64'), isResidentCredential: true, rpId: 'localhost',
            privateKey: privateKey.export({ format: 'der', type: 'pkcs8' }).toString('base64'), userHandle: Buffer.from('nobody').toString('base64'), signCount: 0,
          },
        });
        await page.goto(new URL('/reset', e.srv.issuer).toString());
        await page.getByLabel(T.username).fill(`nobody-${lang}`);
        await page.getByRole('button', { name: T.next, exact: true }).click();
        await page.waitForURL(/\/reset\/method$/);
        await choose(page, lang, X.passkey);
        await page.waitForURL(/\/reset\/code$/);
        await page.getByRole('button', { name: X.use, exact: true }).click();
        await page.locator('[data-message-id="passkey:errors.failed"]').waitFor();
        await shots.check(page, 'refused');
        assert.match(page.url(), /\/reset\/code$/);
      } catch (err) {
        await shots.failed(page);
        throw err;
      } finally {
        await context.close();
      }
    });
  }

  async function mailedNotice(e: BrowserEnv, to: string, since: number): Promise<void> {
    const deadline = Date.now() + 5000;
    while (!e.smtp.received.slice(since).some((m) => m.to.includes(to))) {
      if (Date.now() > deadline) throw new Error(`no notice mail to ${to}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
});
