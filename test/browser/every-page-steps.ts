import { generate } from 'otplib';
import type { Locator, Page } from 'playwright-core';
import type { SeededUser } from '../support/users.ts';
import { authorizationRequest, backAtClient, mailedCode, type AuthorizationRequest, type BrowserEnv, type Lang } from './support.ts';

/**
 * The walk of every-page.test.ts: one row per page a person can see, in the order a person meets
 * them. Each step brings the browser from the previous page to its page; the test then scans and
 * photographs that page at both widths and names the screenshot `<NN>-<id>.png`. A new page
 * (passkeys, the second factor) is one more row, at the place in the walk where it shows.
 * Fields and buttons are found the way INTERFACE.md names them (autofill tokens, also among others
 * as in `username webauthn`; radio values; the one unnamed submit button of a form), so changes of
 * wording do not break the walk.
 */

/** What the steps share during one language's walk. */
export interface Walk {
  env: BrowserEnv;
  page: Page;
  lang: Lang;
  user: SeededUser;
  /** The user's current password (the walk changes it). */
  password: string;
  /** The authorization request in progress, if any. */
  request?: AuthorizationRequest;
  /** The address of the last finished interaction (the "expired" page is shown there). */
  finishedInteraction?: string;
  /** How many mails had arrived before the last code was sent. */
  codeSince?: number;
}

export interface Step {
  /** File name part of the screenshot, and how failures name the page. */
  id: string;
  /** Brings the browser to the page (from wherever the previous step left it). */
  go(w: Walk): Promise<void>;
}

/**
 * Runs `action` (a click that submits or follows a link) and waits until another document has
 * loaded: after post → redirect → get the address may be the same, so it marks the old document.
 */
async function navigate(page: Page, action: () => Promise<unknown>): Promise<void> {
  await page.evaluate(() => { (globalThis as Record<string, unknown>).__walkOldDocument = true; });
  await action();
  const until = Date.now() + 10_000;
  for (;;) {
    // Evaluation fails while the next document replaces the old one: that is "not yet".
    const old = await page.evaluate(() => '__walkOldDocument' in globalThis).catch(() => true);
    if (!old) break;
    if (Date.now() > until) throw new Error(`no new page after the click (still at ${page.url()})`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await page.waitForLoadState('load');
}

/** The visible field with this autofill token (a form may also hold a hidden `username`). */
function field(page: Page, token: string): Locator {
  return page.locator(`input[autocomplete~="${token}"]:visible`).first();
}

/** The form's one unnamed submit button (INTERFACE.md: the button that moves on). */
function moveOn(page: Page, formAction: string): Locator {
  return page.locator(`form[action*="${formAction}"] button[type="submit"]:not([name])`).first();
}

async function submit(page: Page, formAction: string): Promise<void> {
  await navigate(page, () => moveOn(page, formAction).click());
}

async function signIn(w: Walk, password = w.password): Promise<void> {
  await field(w.page, 'username').fill(w.user.login);
  await field(w.page, 'current-password').fill(password);
  await submit(w.page, '/login');
}

async function chooseMethod(w: Walk, method: string): Promise<void> {
  await w.page.locator(`input[type="radio"][name="method"][value="${method}"]`).check();
  await submit(w.page, '/method');
}

async function typeCode(page: Page, code: string, formAction: string): Promise<void> {
  await field(page, 'one-time-code').fill(code);
  await submit(page, formAction);
}

/** Leaves an enrolment page (target, code, secret) for the method choice again. */
async function back(page: Page): Promise<void> {
  await navigate(page, () => page.locator('button[type="submit"][name="action"][value="back"]').click());
}

export const password = (lang: Lang, n: number) => `${lang} amber harbour violin ${n} quietly`;

export const STEPS: Step[] = [
  { id: 'sign-in', async go(w) {
    w.request = await authorizationRequest(w.env);
    await w.page.goto(w.request.url);
  } },
  { id: 'sign-in-wrong-password', go: (w) => signIn(w, 'not the password at all') },
  { id: 'register-choose', go: (w) => signIn(w) },
  { id: 'register-email', go: (w) => chooseMethod(w, 'email') },
  { id: 'register-email-code', async go(w) {
    await field(w.page, 'email').fill(w.user.email!);
    const since = w.env.smtp.received.length;
    w.codeSince = since;
    await submit(w.page, '/target');
  } },
  { id: 'register-email-code-wrong', go: (w) => typeCode(w.page, '00000000', '/verify') },
  { id: 'register-email-added', async go(w) {
    const { code } = await mailedCode(w.env, w.user.email!, w.codeSince ?? 0);
    await typeCode(w.page, code, '/verify');
  } },
  { id: 'register-phone', go: (w) => chooseMethod(w, 'sms') },
  { id: 'register-totp', async go(w) {
    await back(w.page);
    await chooseMethod(w, 'totp');
  } },
  { id: 'register-recovery-codes', async go(w) {
    const uri = await w.page.locator('a[href^="otpauth:"]').getAttribute('href');
    const secret = new URL(uri!).searchParams.get('secret')!;
    await typeCode(w.page, await generate({ secret }), '/verify');
    await chooseMethod(w, 'recovery_codes');
  } },
  { id: 'consent', async go(w) {
    const first = (await w.page.locator('#recovery-codes code').first().innerText()).trim();
    await typeCode(w.page, first, '/verify');
    w.finishedInteraction = new URL(w.page.url()).pathname.replace(/\/register$/, '');
    await submit(w.page, '/finish');
  } },
  { id: 'register-reconfirm', async go(w) {
    await navigate(w.page, () => moveOn(w.page, '/confirm').click());
    await w.request!.finish(await backAtClient(w.env, w.page));
    // Confirmed long ago: the next sign-in asks whether the methods are still right.
    await w.env.srv.app.sspr.methodRepo.setConfirmedAt(w.user.id, new Date(Date.now() - 400 * 86_400_000));
    w.request = await authorizationRequest(w.env, { prompt: 'login' });
    await w.page.goto(w.request.url);
    await signIn(w);
  } },
  { id: 'account-security', async go(w) {
    await submit(w.page, '/reconfirm');
    await w.page.goto(`${w.env.srv.issuer}/account/security`);
  } },
  { id: 'account-remove', async go(w) {
    // A confirmation page where there is one; else the list after removing (the authenticator app).
    // Remove is a button of a form or a link to the confirmation.
    const remove = w.page.locator('li[data-method="totp"]').locator('form[action*="remove"] button[type="submit"], a[href*="/remove"]');
    await navigate(w.page, () => remove.first().click());
  } },
  { id: 'logout', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}/session/end`);
  } },
  { id: 'logged-out', async go(w) {
    await navigate(w.page, () => w.page.locator('button[type="submit"][name="logout"]').click());
  } },
  { id: 'account-signed-out', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}/account/security`);
  } },
  { id: 'account-password', async go(w) {
    // Signed out above: the account pages' own sign-in (prompt=login, no consent) first.
    await w.page.goto(`${w.env.srv.issuer}/account/sign-in`);
    await signIn(w);
    await w.page.goto(`${w.env.srv.issuer}/account/security/password`);
  } },
  { id: 'account-password-changed', async go(w) {
    const next = password(w.lang, 2);
    await field(w.page, 'current-password').fill(w.password);
    for (const box of await w.page.locator('input[autocomplete~="new-password"]:visible').all()) await box.fill(next);
    await submit(w.page, '/account/security/password');
    w.password = next;
  } },
  { id: 'reset-identifier', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}/reset`);
  } },
  { id: 'reset-method', async go(w) {
    await field(w.page, 'username').fill(w.user.login);
    await submit(w.page, '/reset');
  } },
  { id: 'reset-email', go: (w) => chooseMethod(w, 'email') },
  { id: 'reset-code', async go(w) {
    await field(w.page, 'email').fill(w.user.email!);
    w.codeSince = w.env.smtp.received.length;
    await submit(w.page, '/target');
  } },
  { id: 'reset-code-wrong', go: (w) => typeCode(w.page, '00000000', '/code') },
  { id: 'reset-password', async go(w) {
    const { code } = await mailedCode(w.env, w.user.email!, w.codeSince ?? 0);
    await typeCode(w.page, code, '/code');
  } },
  { id: 'reset-password-rejected', async go(w) {
    for (const box of await w.page.locator('input[autocomplete~="new-password"]:visible').all()) await box.fill('short');
    await submit(w.page, '/password');
  } },
  { id: 'reset-done', async go(w) {
    const next = password(w.lang, 3);
    for (const box of await w.page.locator('input[autocomplete~="new-password"]:visible').all()) await box.fill(next);
    await submit(w.page, '/password');
    w.password = next;
  } },
  { id: 'provider-error', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}/auth?client_id=no-such-app&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(w.env.callback.url)}`);
  } },
  { id: 'interaction-expired', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}${w.finishedInteraction}`);
  } },
  { id: 'demo', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}/demo`);
  } },
  { id: 'demo-signed-in', async go(w) {
    await navigate(w.page, () => w.page.locator('a[href="/demo/login"]').click());
    await signIn(w);
    if (new URL(w.page.url()).pathname.startsWith('/interaction/')) await submit(w.page, '/confirm');
    await w.page.waitForURL(/\/demo\/callback/);
  } },
];
