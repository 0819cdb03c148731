import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { generate } from 'otplib';
import type { Page } from 'playwright-core';
import { seedUser } from '../support/users.ts';
import { UI, authorizationRequest, backAtClient, mailedCode, pageChecker, useBrowserEnv, type BrowserEnv } from './support.ts';

/**
 * Issue 18 in Chromium, registration and /account/security half, in English and Dutch at desktop and
 * phone (390 × 844) width: the authenticator page names its QR code and shows the key in groups of
 * four; a wrong code is tied to its field and a reload posts nothing; once the policy is met Finish
 * is the one primary action with nothing pre-selected; Remove asks first, its page survives a
 * language switch, and the last method is not offered for removal. axe-core finds no serious or
 * critical violation on these pages.
 */
const TEXT = {
  en: { totp: 'Authenticator app', codeFromApp: 'Code from the app', qr: 'QR code to scan with your authenticator app', back: 'Choose another method', remove: 'Remove Email', removeConfirm: 'Remove Email', removed: 'The method was removed.', cannotRemove: 'This is your only recovery method', thisBrowser: 'this browser', security: 'Security info' },
  nl: { totp: 'Authenticator-app', codeFromApp: 'Code uit de app', qr: 'QR-code om te scannen met uw authenticator-app', back: 'Een andere methode kiezen', remove: 'E-mail verwijderen', removeConfirm: 'E-mail verwijderen', removed: 'De methode is verwijderd.', cannotRemove: 'Dit is uw enige herstelmethode', thisBrowser: 'deze browser', security: 'Beveiligingsgegevens' },
} as const;

const WIDTHS = { desktop: { width: 1280, height: 900 }, phone: { width: 390, height: 844 } } as const;
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/** axe-core, injected by evaluate (our CSP allows no inline script tag): serious and critical violations. */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(AXE);
  return page.evaluate(async () => {
    const run = (globalThis as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact: string | null; nodes: unknown[] }> }> } }).axe.run;
    const result = await run();
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.id} (${v.impact}, ${v.nodes.length})`);
  });
}

describe('browser: registration and security info pages of issue 18 (Chromium)', function () {
  this.timeout(120_000);
  let env: BrowserEnv | undefined;

  useBrowserEnv((started) => { env = started; }, { enabled_for: 'all', methods_required: 1, methods: ['email', 'totp'] });

  for (const lang of ['en', 'nl'] as const) {
    for (const [width, viewport] of Object.entries(WIDTHS)) {
      const T = UI[lang];
      const X = TEXT[lang];

      it(`${lang}, ${width}: QR name, key groups, field error without re-post on reload, Finish alone, Remove with a confirmation`, async () => {
        const e = env!;
        const shots = pageChecker(lang, `account-pages-${width}`);
        const user = await seedUser(e.srv.app, { login: `pages-${lang}-${width}`, email: `pages-${lang}-${width}@example.org` });
        const context = await e.browser.newContext({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB', viewport, isMobile: width === 'phone' });
        const page = await context.newPage();
        page.setDefaultTimeout(10_000);
        const axe: string[] = [];
        const scan = async (step: string) => { for (const v of await axeViolations(page)) axe.push(`${step}: ${v}`); };
        try {
          const request = await authorizationRequest(e);
          await page.goto(request.url);
          await page.getByLabel(T.username).fill(user.login);
          await page.getByLabel(T.password, { exact: true }).fill(user.password);
          await page.getByRole('button', { name: T.signIn, exact: true }).click();
          await page.waitForURL(/\/register$/);
          await shots.check(page, 'choose');
          await scan('choose');

          // The authenticator page: the QR code has a name, the key reads in groups of four and copies as one.
          await page.getByLabel(X.totp, { exact: true }).check();
          await page.getByRole('button', { name: T.next, exact: true }).click();
          await page.getByRole('img', { name: X.qr }).waitFor();
          const groups = await page.locator('#totp-secret span').allInnerTexts();
          assert.ok(groups.slice(0, -1).every((g) => g.length === 4), groups.join(' '));
          const secret = (await page.locator('#totp-secret').textContent())!;
          assert.equal(secret, groups.join(''), 'a copy of the key has no spaces');
          assert.equal(new URL((await page.locator('#totp-uri').getAttribute('href'))!).searchParams.get('secret'), secret);
          await shots.check(page, 'totp');
          await scan('totp');

          // A wrong code: the field says so and points at the message; a reload posts nothing.
          const code = page.getByLabel(X.codeFromApp, { exact: true });
          assert.equal(await code.getAttribute('maxlength'), '6');
          await code.fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 600 }));
          await page.getByRole('button', { name: T.verify, exact: true }).click();
          await page.getByRole('alert').first().waitFor();
          assert.equal(await code.getAttribute('aria-invalid'), 'true');
          // The text of what aria-describedby points at (the tests compile without the DOM typings).
          type Node = { getAttribute(n: string): string | null; ownerDocument: { getElementById(id: string): { textContent: string | null } | null } };
          const described = await code.evaluate((el: unknown) => {
            const node = el as Node;
            return (node.getAttribute('aria-describedby') ?? '').split(' ').map((id: string) => node.ownerDocument.getElementById(id)?.textContent ?? '').join(' ');
          });
          assert.match(described, lang === 'en' ? /not right|incorrect|wrong/i : /klopt niet|onjuist|verkeerd/i, described);
          await shots.check(page, 'totp-wrong-code');
          await scan('totp-wrong-code');
          const failures = async () => (await e.srv.app.audit.query({ targetAccountId: user.id, activity: 'sspr.registration.method_verified' })).filter((ev) => ev.result === 'failure').length;
          assert.equal(await failures(), 1);
          await page.reload();
          await page.getByRole('img', { name: X.qr }).waitFor();
          assert.equal(await failures(), 1, 'the reload was a GET: no second guess');

          await code.fill(await generate({ secret, epoch: Math.floor(Date.now() / 1000) }));
          await page.getByRole('button', { name: T.verify, exact: true }).click();
          await page.waitForURL(/\/register\?m=added$/);

          // Enough now: Finish is the primary action, nothing is pre-selected, the app is not offered again.
          assert.equal(await page.getByRole('radio', { checked: true }).count(), 0);
          assert.equal(await page.getByLabel(X.totp, { exact: true }).count(), 0);
          const finish = page.getByRole('button', { name: T.finish, exact: true });
          assert.equal(await finish.getAttribute('class'), null, 'Finish has the primary style');
          assert.equal(await page.getByRole('button', { name: T.next, exact: true }).getAttribute('class'), 'secondary');
          await shots.check(page, 'enough');
          await scan('enough');

          // A second method (email), then Finish and back to the app.
          await page.getByLabel(T.email, { exact: true }).check();
          await page.getByRole('button', { name: T.next, exact: true }).click();
          const since = e.smtp.received.length;
          await page.getByLabel(T.emailAddress, { exact: true }).fill(user.email!);
          await page.getByRole('button', { name: T.next, exact: true }).click();
          const mailed = await mailedCode(e, user.email!, since);
          const emailCode = page.getByLabel(T.code, { exact: true });
          assert.equal(await emailCode.getAttribute('maxlength'), String(mailed.code.length));
          await emailCode.fill(mailed.code);
          await page.getByRole('button', { name: T.verify, exact: true }).click();
          await page.waitForURL(/\/register\?m=added$/);
          await finish.click();
          await page.getByRole('button', { name: T.allow, exact: true }).click();
          await request.finish(await backAtClient(e, page));

          // Security info: this browser named; Remove asks first; its page survives a language switch.
          await page.goto(`${e.srv.issuer}/account/security`);
          const current = page.locator('ul.sessions li[data-current="true"]');
          assert.match(await current.innerText(), new RegExp(`Chrome \\d+ (on|op) Linux.*${X.thisBrowser}`, 's'));
          assert.match(await current.innerText(), /127\.0\.0\.x/);
          await shots.check(page, 'security');
          await scan('security');
          await page.getByRole('link', { name: X.remove, exact: true }).click();
          await page.waitForURL(/\/account\/security\/remove\/[^/?]+$/);
          await shots.check(page, 'remove-confirm');
          await scan('remove-confirm');
          const other = lang === 'en' ? 'Nederlands' : 'English';
          await page.getByRole('link', { name: other, exact: true }).click();
          await page.waitForURL(/\/account\/security\/remove\/[^/?]+\?lang=/);
          assert.equal((await page.locator('form[action="/account/security/remove"]').count()), 1, 'still the confirmation page');
          await page.getByRole('link', { name: lang === 'en' ? 'English' : 'Nederlands', exact: true }).click();
          assert.equal(await e.srv.app.sspr.methodRepo.listVerified(user.id).then((m) => m.length), 2, 'asking removed nothing');
          await page.getByRole('button', { name: X.removeConfirm, exact: true }).click();
          await page.waitForURL(/\/account\/security\?m=removed$/);
          assert.equal(await page.locator('[data-message-id="registration:removed"]').innerText(), X.removed);
          // The last method: no Remove, and the page says why.
          assert.equal(await page.getByRole('link', { name: new RegExp(X.remove.replace('Email', '').replace('E-mail', '').trim() || 'Remove') }).count(), 0);
          assert.match(await page.locator('ul.methods').innerText(), new RegExp(X.cannotRemove));
          await shots.check(page, 'last-method');
          assert.deepEqual(axe, [], 'axe-core: no serious or critical violations');
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
