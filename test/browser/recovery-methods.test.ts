import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { cliOk, runCli } from '../support/cli.ts';
import { TEST_HASHING, TEST_SECRETS } from '../support/server.ts';
import { seedUser } from '../support/users.ts';
import { UI, authorizationRequest, backAtClient, chromiumMissing, newPage, pageChecker, startBrowserEnv, type BrowserEnv, type Lang } from './support.ts';

/**
 * The two recovery methods of issue 17 in a real browser, in English and Dutch: recovery codes
 * registered at the sign-in interrupt and used once at a reset (refused the second time), and a
 * Temporary Access Pass from the CLI that resets a user without methods, who is then asked to
 * register at the next sign-in; a used pass is refused like a wrong code.
 */
const TEXT = {
  en: { recoveryCode: 'Recovery code', pass: 'Temporary Access Pass' },
  nl: { recoveryCode: 'Herstelcode', pass: 'Tijdelijke toegangspas' },
} as const;

describe('browser: recovery codes and the Temporary Access Pass (Chromium)', function () {
  this.timeout(90_000);
  let env: BrowserEnv | undefined;
  let cliConfig: string;

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`      ${missing}`);
      this.skip();
    }
    env = await startBrowserEnv({ enabled_for: 'all', methods_required: 1, methods: ['email', 'recovery_codes'] });
    cliConfig = join(env.db.dir, 'cli.yaml');
    const hashing = `password_hashing: { memory_kib: ${TEST_HASHING.memory_kib}, time_cost: ${TEST_HASHING.time_cost}, parallelism: ${TEST_HASHING.parallelism} }`;
    writeFileSync(cliConfig, `database: ${env.srv.config.database}\n${hashing}\nsecrets: { cookie_keys: [${TEST_SECRETS.cookie_keys[0]}], encryption_keys: [${TEST_SECRETS.encryption_keys[0]}] }\n`);
  });
  after(async () => { await env?.close(); });

  /** The reset from the sign-in page's link, up to the code page of `method`. */
  async function toResetCode(page: Page, lang: Lang, login: string, method: string): Promise<void> {
    const T = UI[lang];
    await page.getByRole('link', { name: T.forgot }).click();
    await page.waitForURL(/\/reset$/);
    await page.getByLabel(T.username).fill(login);
    await page.getByRole('button', { name: T.next, exact: true }).click();
    await page.waitForURL(/\/reset\/method$/);
    await page.getByLabel(method).check();
    await page.getByRole('button', { name: T.next, exact: true }).click();
    await page.waitForURL(/\/reset\/code$/);
  }

  async function newPasswordTwice(page: Page, lang: Lang, password: string): Promise<void> {
    const T = UI[lang];
    await page.waitForURL(/\/reset\/password$/);
    await page.getByLabel(T.newPassword, { exact: true }).fill(password);
    await page.getByLabel(T.confirmPassword, { exact: true }).fill(password);
    await page.getByRole('button', { name: T.resetPassword, exact: true }).click();
    await page.getByLabel(T.password, { exact: true }).waitFor();
  }

  for (const lang of ['en', 'nl'] as const) {
    const T = UI[lang];
    const X = TEXT[lang];
    const locale = lang === 'nl' ? 'nl-NL' : 'en-GB';

    it(`${lang}: registers recovery codes at the sign-in interrupt, resets with one, and the same code is refused the second time`, async () => {
      const e = env!;
      const shots = pageChecker(lang, 'recovery-codes');
      const user = await seedUser(e.srv.app, { login: `codes-${lang}` });
      const { context, page, consoleErrors } = await newPage(e, locale);
      try {
        const request = await authorizationRequest(e);
        await page.goto(request.url);
        await page.getByLabel(T.username).fill(user.login);
        await page.getByLabel(T.password, { exact: true }).fill(user.password);
        await page.getByRole('button', { name: T.signIn, exact: true }).click();
        await page.waitForURL(/\/register$/);
        await shots.check(page, 'choose');
        await page.getByLabel(X.recoveryCode, { exact: true }).check();
        await page.getByRole('button', { name: T.next, exact: true }).click();
        await page.waitForURL(/\/register$/);
        await shots.check(page, 'codes');
        const codes = await page.locator('#recovery-codes code').allInnerTexts();
        assert.equal(codes.length, 10);
        const typed = page.locator('input[autocomplete="one-time-code"]');
        assert.equal(await typed.getAttribute('inputmode'), null, 'letters and digits: no numeric keypad');
        await typed.fill(codes[0]!);
        await page.getByRole('button', { name: T.verify, exact: true }).click();
        await page.getByRole('button', { name: T.finish, exact: true }).click();
        await page.getByRole('button', { name: T.allow, exact: true }).click();
        await request.finish(await backAtClient(e, page));

        // Signed in already: prompt=login shows the sign-in page (and its link) again.
        const reset = await authorizationRequest(e, { prompt: 'login' });
        await page.goto(reset.url);
        await toResetCode(page, lang, user.login, X.recoveryCode);
        await shots.check(page, 'reset-code');
        await page.locator('input[autocomplete="one-time-code"]').fill(codes[1]!);
        await page.getByRole('button', { name: T.verify, exact: true }).click();
        await newPasswordTwice(page, lang, `${lang} copper harbour lantern 17`);

        await toResetCode(page, lang, user.login, X.recoveryCode);
        await page.locator('input[autocomplete="one-time-code"]').fill(codes[1]!);
        await page.getByRole('button', { name: T.verify, exact: true }).click();
        await page.waitForURL(/\/reset\/code$/);
        await shots.check(page, 'used-code-refused');
        assert.match(await page.getByRole('alert').innerText(), /\S/, 'the used code is refused with a message');
        // The refusal page answers 400, which Chromium logs; nothing else may be there (CSP, scripts).
        assert.deepEqual(consoleErrors.filter((m) => !/status of 400/.test(m)), []);
      } catch (err) {
        await shots.failed(page);
        throw err;
      } finally {
        await context.close();
      }
    });

    it(`${lang}: a Temporary Access Pass from the CLI resets a user without methods, who registers at the next sign-in; a used pass is refused`, async () => {
      const e = env!;
      const shots = pageChecker(lang, 'access-pass');
      const user = await seedUser(e.srv.app, { login: `pass-${lang}` });
      const issued = JSON.parse(cliOk(await runCli(['user', 'tap', user.login, '--json'], { config: cliConfig })).stdout) as { pass: string };
      const { context, page, consoleErrors } = await newPage(e, locale);
      try {
        const request = await authorizationRequest(e);
        await page.goto(request.url);
        await toResetCode(page, lang, user.login, X.pass);
        await shots.check(page, 'pass');
        await page.locator('input[autocomplete="one-time-code"]').fill(issued.pass);
        await page.getByRole('button', { name: T.verify, exact: true }).click();
        const password = `${lang} violet meadow ferry 42`;
        await newPasswordTwice(page, lang, password);

        await page.getByLabel(T.username).fill(user.login);
        await page.getByLabel(T.password, { exact: true }).fill(password);
        await page.getByRole('button', { name: T.signIn, exact: true }).click();
        await page.waitForURL(/\/register$/);
        await shots.check(page, 'register-after-pass');

        const again = await authorizationRequest(e);
        const { context: other, page: second } = await newPage(e, locale);
        try {
          await second.goto(again.url);
          await toResetCode(second, lang, user.login, X.pass);
          await second.locator('input[autocomplete="one-time-code"]').fill(issued.pass);
          await second.getByRole('button', { name: T.verify, exact: true }).click();
          await second.waitForURL(/\/reset\/code$/);
          assert.match(await second.getByRole('alert').innerText(), /\S/, 'a used pass is refused like a wrong code');
        } finally {
          await other.close();
        }
        assert.deepEqual(consoleErrors, []);
      } catch (err) {
        await shots.failed(page);
        throw err;
      } finally {
        await context.close();
      }
    });
  }
});
