import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';
import { seedUser } from '../support/users.ts';
import {
  UI, authorizationRequest, backAtClient, mailedCode, pageChecker, useBrowserEnv,
  type BrowserEnv, type Lang,
} from './support.ts';

const VIEWPORTS = { desktop: { width: 1280, height: 800 }, phone: { width: 390, height: 844 } } as const;
const OTHER: Record<Lang, Lang> = { en: 'nl', nl: 'en' };
const TEXT = {
  en: { forgotNext: 'Next', resend: 'Send a new code', username: 'User name', finished: /already complete/ },
  nl: { forgotNext: 'Volgende', resend: 'Nieuwe code sturen', username: 'Gebruikersnaam', finished: /al afgerond/ },
} as const;

/** The field is marked invalid and its description is a role="alert" message beside it. */
async function assertFieldError(page: Page, selector: string, messageId: string): Promise<void> {
  const field = page.locator(selector);
  assert.equal(await field.getAttribute('aria-invalid'), 'true', `${selector} aria-invalid`);
  const ids = (await field.getAttribute('aria-describedby'))?.split(' ') ?? [];
  assert.ok(ids.length > 0, `${selector} aria-describedby`);
  const box = page.locator(`[id="${ids[0]}"]`);
  assert.equal(await box.getAttribute('role'), 'alert');
  assert.equal(await box.locator(`[data-message-id="${messageId}"]`).count(), 1, `${messageId} beside ${selector}`);
}

/**
 * Issue 18's dead ends of the sign-in and the reset, walked in Chromium in both languages at desktop
 * and phone width: a wrong password, then the other language, Forgot your password? (the name carried
 * along), a wrong code, a reload, "send a new code", a replaced code, the new password with the
 * account's name for the password manager, back to sign in, and Back to the finished sign-in.
 */
describe('browser: no dead ends on the sign-in and reset pages (Chromium, en/nl, desktop/phone)', function () {
  this.timeout(90_000);
  let env: BrowserEnv | undefined;

  useBrowserEnv((started) => { env = started; }, { enabled_for: 'all', methods_required: 1 });

  let n = 0;
  for (const lang of ['en', 'nl'] as const) {
    for (const [width, viewport] of Object.entries(VIEWPORTS)) {
      it(`${lang}, ${width} (${viewport.width}×${viewport.height}): wrong password → other language → forgot → wrong code → reload → new code → new password → sign in → Back`, async () => {
        const e = env!;
        const T = UI[lang];
        const X = TEXT[lang];
        const other = OTHER[lang];
        const shots = pageChecker(lang, `dead-ends-${width}`);
        const otherShots = pageChecker(other, `dead-ends-${width}-switched-from-${lang}`);
        const login = `walker${++n}${lang}`;
        const user = await seedUser(e.srv.app, { login });
        const recovery = `${login}.private@example.net`;
        await e.srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
        const failures = async (activity: string) => (await e.srv.app.audit.query({ activity, targetAccountId: user.id })).length;
        const request = await authorizationRequest(e, { ui_locales: lang });
        const context = await e.browser.newContext({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB', viewport });
        const page = await context.newPage();
        page.setDefaultTimeout(10_000);
        const consoleErrors: string[] = [];
        // Error pages answer with their status on purpose (401, 400, 429); anything else (CSP, scripts) counts.
        page.on('console', (m) => { if (m.type() === 'error' && !/favicon/.test(m.location().url) && !/^Failed to load resource: the server responded with a status of (400|401|429)\b/.test(m.text())) consoleErrors.push(m.text()); });
        try {
          await page.goto(request.url);
          await shots.check(page, 'sign-in');
          const signInUrl = page.url();
          await page.getByLabel(T.username).fill(login);
          await page.getByLabel(T.password, { exact: true }).fill('not my password at all');
          await page.getByRole('button', { name: T.signIn, exact: true }).click();
          await page.locator('[data-message-id="errors:invalid_credentials"]').waitFor();
          await shots.check(page, 'wrong-password');
          assert.equal(page.url(), signInUrl, 'the error is shown at the sign-in page address (GET)');
          await assertFieldError(page, '#password', 'errors:invalid_credentials');

          // Reload: the page again, no second attempt.
          await page.reload();
          await page.getByLabel(T.password, { exact: true }).waitFor();
          assert.equal(await failures('auth.sign_in.failed'), 1, 'one failed sign-in in the audit log after a reload');

          // The other language, then back: the same sign-in, the name still there.
          await page.locator(`footer a[hreflang="${other}"]`).click();
          await page.locator(`html[lang=\"${other}\"]`).waitFor({ state: 'attached' });
          assert.equal(await page.getByLabel(UI[other].username).inputValue(), login);
          await otherShots.check(page, 'sign-in-after-wrong-password');
          await page.locator(`footer a[hreflang="${lang}"]`).click();
          await page.locator(`html[lang=\"${lang}\"]`).waitFor({ state: 'attached' });

          // Forgot your password?: the name typed at sign-in is already there.
          await page.getByRole('link', { name: T.forgot }).click();
          await page.waitForURL(/\/reset$/);
          await shots.check(page, 'user-id');
          assert.equal(await page.getByLabel(T.username).inputValue(), login);
          assert.doesNotMatch(page.url(), new RegExp(login), 'the name is not in the URL');
          await page.getByRole('button', { name: X.forgotNext, exact: true }).click();
          await page.waitForURL(/\/reset\/method$/);
          await page.getByLabel(T.email, { exact: true }).check();
          await page.getByRole('button', { name: T.next, exact: true }).click();
          await page.waitForURL(/\/reset\/target$/);
          await page.getByLabel(T.emailAddress, { exact: true }).fill(recovery);
          let since = e.smtp.received.length;
          await page.getByRole('button', { name: T.sendCode, exact: true }).click();
          await page.waitForURL(/\/reset\/code$/);
          const first = (await mailedCode(e, recovery, since)).code;

          // A wrong code, a reload: one counted attempt.
          await page.locator('input[autocomplete="one-time-code"]').fill(first === '000000' ? '000001' : '000000');
          await page.getByRole('button', { name: T.verify, exact: true }).click();
          await page.locator('[data-message-id="errors:sspr.code_invalid"]').waitFor();
          await shots.check(page, 'wrong-code');
          await assertFieldError(page, '#code', 'errors:sspr.code_invalid');
          await page.reload();
          await page.locator('input[autocomplete="one-time-code"]').waitFor();
          assert.equal(await failures('sspr.reset.failed'), 1, 'reloading the error page posted nothing');
          // The other language keeps the reset at its step.
          await page.locator(`footer a[hreflang="${other}"]`).click();
          await page.locator(`html[lang=\"${other}\"]`).waitFor({ state: 'attached' });
          assert.match(page.url(), /\/reset\/code\?lang=/);
          await page.locator(`footer a[hreflang="${lang}"]`).click();
          await page.locator(`html[lang=\"${lang}\"]`).waitFor({ state: 'attached' });

          // Send a new code; the first one now reads as replaced.
          since = e.smtp.received.length;
          await page.getByRole('button', { name: X.resend, exact: true }).click();
          await page.locator('[data-message-id="reset:code.resent"]').waitFor();
          await shots.check(page, 'new-code-sent');
          const second = (await mailedCode(e, recovery, since)).code;
          await page.locator('input[autocomplete="one-time-code"]').fill(first);
          await page.getByRole('button', { name: T.verify, exact: true }).click();
          await page.locator('[data-message-id="errors:sspr.code_replaced"]').waitFor();
          await shots.check(page, 'replaced-code');
          await page.locator('input[autocomplete="one-time-code"]').fill(second);
          await page.getByRole('button', { name: T.verify, exact: true }).click();

          // The new password, in a form that also holds the account's name for the password manager.
          await page.waitForURL(/\/reset\/password$/);
          await shots.check(page, 'new-password');
          const form = page.locator('form').filter({ has: page.locator('input[autocomplete="new-password"]') });
          const username = form.locator('input[autocomplete="username"]');
          assert.equal(await username.count(), 1, 'a username field in the new-password form');
          assert.equal(await username.inputValue(), login);
          const newPassword = `${lang === 'nl' ? 'tulp' : 'tulip'} lantern violet oboe ${n}`;
          await page.getByLabel(T.newPassword, { exact: true }).fill(newPassword);
          await page.getByLabel(T.confirmPassword, { exact: true }).fill(newPassword);
          await page.getByRole('button', { name: T.resetPassword, exact: true }).click();

          // Back on the sign-in page, the name filled in.
          const password = page.getByLabel(T.password, { exact: true });
          await password.waitFor();
          await shots.check(page, 'sign-in-after-reset');
          assert.equal(await page.getByLabel(T.username).inputValue(), login);
          await password.fill(newPassword);
          await page.getByRole('button', { name: T.signIn, exact: true }).click();
          await page.getByRole('button', { name: T.allow, exact: true }).click();
          const tokens = await request.finish(await backAtClient(e, page));
          assert.equal(tokens.claims()!.sub, user.id);

          // Back to the finished sign-in: it says so, not "took too long".
          await page.goto(signInUrl);
          await shots.check(page, 'finished');
          assert.match(await page.locator('main').innerText(), X.finished);
          assert.equal(await page.locator('[data-error-code="interaction_finished"]').count(), 1);
          assert.deepEqual(consoleErrors, [], 'no console errors (CSP violations, scripts)');
        } catch (err) {
          await shots.failed(page);
          throw err;
        } finally {
          await context.close();
        }
      });
    }
  }
});
