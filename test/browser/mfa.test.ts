import assert from 'node:assert/strict';
import { generate } from 'otplib';
import { seedUser } from '../support/users.ts';
import { totpSecret } from '../support/methods.ts';
import { ACR_MFA } from '../../src/sspr/mfa-policy.ts';
import { UI, authorizationRequest, backAtClient, newPage, pageChecker, useBrowserEnv, type BrowserEnv, type Lang } from './support.ts';

/**
 * The second factor at sign-in in a real browser (issue 21): password, then "Second step" with the
 * account's methods as labelled radios, the authenticator code typed into the one-time-code field,
 * "Remember this browser", and the ID token's amr and acr at the client. English and Dutch.
 */
describe('browser: sign-in with a second factor (Chromium)', function () {
  this.timeout(60_000);
  let env: BrowserEnv | undefined;

  useBrowserEnv((started) => { env = started; }, { enabled_for: 'none' }, { config: { mfa: { required_for: 'all', remember_days: 14 } } });

  const text = {
    en: { heading: /second step|verify/i, app: 'Authenticator app', cont: 'Continue', code: 'Code from your authenticator app', remember: 'Remember this browser for 14 days', verify: 'Verify' },
    nl: { heading: /tweede stap|verifiëren/i, app: 'Authenticator-app', cont: 'Doorgaan', code: 'Code uit uw authenticator-app', remember: 'Onthoud deze browser 14 dagen', verify: 'Verifiëren' },
  } as const;

  for (const lang of ['en', 'nl'] as Lang[]) {
    it(`${lang}: password → second step (authenticator app) → consent → amr ["pwd","otp","mfa"] and the MFA acr; remembered next time`, async () => {
      const e = env!;
      const T = UI[lang];
      const M = text[lang];
      const shots = pageChecker(lang, 'mfa');
      const user = await seedUser(e.srv.app, { login: `mfa-${lang}` });
      const enrolled = await totpSecret(e.srv.app);
      await e.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'totp', secretEnc: enrolled.secretEnc });
      await e.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: `mfa-${lang}@example.org` });
      const request = await authorizationRequest(e, { ui_locales: lang });
      const { context, page, consoleErrors } = await newPage(e, lang === 'nl' ? 'nl-NL' : 'en-GB');
      try {
        await page.goto(request.url);
        await page.getByLabel(T.username).fill(user.login);
        await page.getByLabel(T.password, { exact: true }).fill(user.password);
        await page.getByRole('button', { name: T.signIn, exact: true }).click();

        await page.waitForURL(/\/mfa$/);
        await shots.check(page, 'second-step');
        assert.match(await page.locator('h1').innerText(), M.heading);
        assert.equal(await page.getByRole('radio').count(), 2, 'the account\'s two methods');
        await page.getByLabel(M.app, { exact: true }).check();
        await page.getByRole('button', { name: M.cont, exact: true }).click();

        await page.waitForURL(/\/mfa\/totp$/);
        await shots.check(page, 'second-step-code');
        const field = page.getByLabel(M.code, { exact: true });
        assert.equal(await field.getAttribute('autocomplete'), 'one-time-code');
        assert.equal(await field.getAttribute('inputmode'), 'numeric');
        await field.fill(await generate({ secret: enrolled.secret, epoch: Math.floor(Date.now() / 1000) }));
        await page.getByLabel(M.remember).check();
        await page.getByRole('button', { name: M.verify, exact: true }).click();

        const allow = page.getByRole('button', { name: T.allow, exact: true });
        await allow.waitFor();
        await allow.click();
        const tokens = await request.finish(await backAtClient(e, page));
        assert.deepEqual(tokens.claims()!.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(tokens.claims()!.acr, ACR_MFA);

        // Signed out of the session (the remember cookie stays): the password again, no second step.
        const session = (await context.cookies()).filter((c) => c.name === '_session');
        assert.equal(session.length, 1);
        await context.clearCookies({ name: '_session' });
        const again = await authorizationRequest(e, { ui_locales: lang });
        await page.goto(again.url);
        await page.getByLabel(T.username).fill(user.login);
        await page.getByLabel(T.password, { exact: true }).fill(user.password);
        await page.getByRole('button', { name: T.signIn, exact: true }).click();
        const allowAgain = page.getByRole('button', { name: T.allow, exact: true });
        await allowAgain.waitFor();
        await allowAgain.click();
        const second = await again.finish(await backAtClient(e, page));
        assert.equal(second.claims()!.acr, ACR_MFA);
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
