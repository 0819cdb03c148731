import assert from 'node:assert/strict';
import { seedUser } from '../support/users.ts';
import {
  UI, authorizationRequest, backAtClient, decodeHeader, mailedCode, newPage, pageChecker, useBrowserEnv,
  type BrowserEnv, type Lang,
} from './support.ts';

/**
 * Forgot-password from the sign-in page's link of a real authorization request, in a real browser:
 * user id → method → code from the mail → new password twice → back at sign-in → the new password
 * signs in → tokens at the client.
 */
describe('browser: forgot password from the sign-in page (Chromium)', function () {
  this.timeout(60_000);
  let env: BrowserEnv | undefined;

  useBrowserEnv((started) => { env = started; }, { enabled_for: 'all', methods_required: 1 });

  // English through ui_locales=en although the browser prefers Dutch; Dutch through the browser's
  // language alone (Accept-Language), no ui_locales.
  const runs: Array<{ lang: Lang; login: string; locale: string; extra: Record<string, string>; subject: RegExp }> = [
    { lang: 'en', login: 'oliver', locale: 'nl-NL', extra: { ui_locales: 'en' }, subject: /password reset code/ },
    { lang: 'nl', login: 'sanne', locale: 'nl-NL', extra: {}, subject: /wachtwoord opnieuw in te stellen/ },
  ];

  for (const run of runs) {
    it(`${run.lang}: ${UI[run.lang].forgot} → user id → email → code → new password twice → sign in with it → tokens`, async () => {
      const e = env!;
      const T = UI[run.lang];
      const shots = pageChecker(run.lang, 'forgot-password');
      const user = await seedUser(e.srv.app, { login: run.login, email: `${run.login}@example.org` });
      const recovery = `${run.login}.private@example.net`;
      await e.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
      const newPassword = `${run.lang === 'nl' ? 'tulp' : 'tulip'} lantern violet oboe 93`;
      const request = await authorizationRequest(e, run.extra);
      const { context, page, consoleErrors } = await newPage(e, run.locale);
      try {
        await page.goto(request.url);
        await shots.check(page, 'sign-in');
        await page.getByRole('link', { name: T.forgot }).click();

        await page.waitForURL(/\/reset$/);
        await shots.check(page, 'user-id');
        const id = page.getByLabel(T.username);
        assert.equal(await id.getAttribute('autocomplete'), 'username');
        await id.fill(user.login);
        await page.getByRole('button', { name: T.next, exact: true }).click();

        await page.waitForURL(/\/reset\/method$/);
        await shots.check(page, 'method');
        await page.getByLabel(T.email, { exact: true }).check();
        await page.getByRole('button', { name: T.next, exact: true }).click();

        await page.waitForURL(/\/reset\/target$/);
        await shots.check(page, 'email');
        const address = page.getByLabel(T.emailAddress, { exact: true });
        assert.equal(await address.getAttribute('autocomplete'), 'email');
        await address.fill(recovery);
        const since = e.smtp.received.length;
        await page.getByRole('button', { name: T.sendCode, exact: true }).click();

        await page.waitForURL(/\/reset\/code$/);
        await shots.check(page, 'code');
        const mailed = await mailedCode(e, recovery, since);
        assert.match(decodeHeader(mailed.mail.headers.subject), run.subject, 'the mail speaks the page language');
        const code = page.locator('input[autocomplete="one-time-code"]');
        assert.equal(await code.getAttribute('inputmode'), 'numeric');
        await code.fill(mailed.code);
        await page.getByRole('button', { name: T.verify, exact: true }).click();

        await page.waitForURL(/\/reset\/password$/);
        await shots.check(page, 'new-password');
        const fields = page.locator('input[type="password"][autocomplete="new-password"]');
        assert.equal(await fields.count(), 2, 'the new password twice, both marked for a password manager');
        await page.getByLabel(T.newPassword, { exact: true }).fill(newPassword);
        await page.getByLabel(T.confirmPassword, { exact: true }).fill(newPassword);
        await page.getByRole('button', { name: T.resetPassword, exact: true }).click();

        // Back on the sign-in page of the same request, nobody signed in.
        const passwordField = page.getByLabel(T.password, { exact: true });
        await passwordField.waitFor();
        await shots.check(page, 'sign-in-again');
        assert.equal(await passwordField.getAttribute('autocomplete'), 'current-password');
        assert.match(await page.getByRole('status').innerText(), /\S/, 'a notice says the password was changed');
        await page.getByLabel(T.username).fill(user.login);
        await passwordField.fill(newPassword);
        await page.getByRole('button', { name: T.signIn, exact: true }).click();

        const allow = page.getByRole('button', { name: T.allow, exact: true });
        await allow.waitFor();
        await shots.check(page, 'consent');
        await allow.click();

        const tokens = await request.finish(await backAtClient(e, page));
        assert.equal(tokens.claims()!.sub, user.id);
        assert.equal(await e.srv.app.directory.verifyPassword(user.id, newPassword), true);
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
