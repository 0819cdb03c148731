import assert from 'node:assert/strict';
import { seedUser } from '../support/users.ts';
import {
  UI, authorizationRequest, backAtClient, decodeHeader, mailedCode, newPage, pageChecker, useBrowserEnv,
  type BrowserEnv, type Lang,
} from './support.ts';

/**
 * Sign-in from a real authorization request with forced registration of an email method, in a real
 * browser: fields found by label and autofill token, buttons by their visible text.
 */
describe('browser: sign-in with forced registration (Chromium)', function () {
  this.timeout(60_000);
  let env: BrowserEnv | undefined;

  useBrowserEnv((started) => { env = started; }, { enabled_for: 'all', methods_required: 1 });

  // English: the app asks nothing, the browser says English. Dutch: the app asks for nl (ui_locales)
  // while the browser still says English, so the request's wish is what counts.
  const runs: Array<{ lang: Lang; login: string; locale: string; extra: Record<string, string>; subject: RegExp }> = [
    { lang: 'en', login: 'emma', locale: 'en-GB', extra: {}, subject: /verification code/ },
    { lang: 'nl', login: 'daan', locale: 'en-GB', extra: { ui_locales: 'nl' }, subject: /verificatiecode/ },
  ];

  for (const run of runs) {
    it(`${run.lang}: sign-in → register email (code from the mail) → ${UI[run.lang].finish} → consent → tokens at the client`, async () => {
      const e = env!;
      const T = UI[run.lang];
      const shots = pageChecker(run.lang, 'sign-in');
      const user = await seedUser(e.srv.app, { login: run.login, email: `${run.login}@example.org` });
      const request = await authorizationRequest(e, run.extra);
      const { context, page, consoleErrors } = await newPage(e, run.locale);
      try {
        await page.goto(request.url);
        await shots.check(page, 'sign-in');
        // A password manager finds the fields by their autofill tokens; a person by their labels.
        assert.equal(await page.getByLabel(T.username).getAttribute('autocomplete'), 'username');
        assert.equal(await page.getByLabel(T.password, { exact: true }).getAttribute('autocomplete'), 'current-password');
        await page.getByRole('link', { name: T.forgot }).waitFor();
        await page.getByLabel(T.username).fill(user.login);
        await page.getByLabel(T.password, { exact: true }).fill(user.password);
        await page.getByRole('button', { name: T.signIn, exact: true }).click();

        await page.waitForURL(/\/register$/);
        await shots.check(page, 'register-choose');
        await page.getByLabel(T.email, { exact: true }).check();
        await page.getByRole('button', { name: T.next, exact: true }).click();

        await page.waitForURL(/\/register$/);
        await shots.check(page, 'register-email');
        const address = page.getByLabel(T.emailAddress, { exact: true });
        assert.equal(await address.getAttribute('autocomplete'), 'email');
        assert.equal(await address.getAttribute('type'), 'email');
        await address.fill(user.email!);
        const since = e.smtp.received.length;
        await page.getByRole('button', { name: T.next, exact: true }).click();

        const code = page.locator('input[autocomplete="one-time-code"]');
        await code.waitFor();
        await shots.check(page, 'register-code');
        assert.equal(await code.getAttribute('inputmode'), 'numeric');
        assert.equal(await page.getByLabel(T.code, { exact: true }).getAttribute('autocomplete'), 'one-time-code');
        const mailed = await mailedCode(e, user.email!, since);
        assert.match(decodeHeader(mailed.mail.headers.subject), run.subject, 'the mail speaks the page language');
        await code.fill(mailed.code);
        await page.getByRole('button', { name: T.verify, exact: true }).click();

        const finish = page.getByRole('button', { name: T.finish, exact: true });
        await finish.waitFor();
        await shots.check(page, 'register-done');
        assert.match(await page.getByRole('status').innerText(), /\S/, 'a notice says the method was added');
        await finish.click();

        const allow = page.getByRole('button', { name: T.allow, exact: true });
        await allow.waitFor();
        await shots.check(page, 'consent');
        await allow.click();

        const tokens = await request.finish(await backAtClient(e, page));
        assert.equal(tokens.claims()!.sub, user.id);
        assert.ok(tokens.access_token);
        const methods = await e.srv.app.sspr.methodRepo.listVerified(user.id);
        assert.deepEqual(methods.map((m) => [m.type, m.target]), [['email', user.email]]);
        assert.deepEqual(consoleErrors, [], 'no console errors (CSP violations, scripts)');
      } catch (err) {
        await shots.failed(page);
        throw err;
      } finally {
        await context.close();
      }
    });
  }
});
