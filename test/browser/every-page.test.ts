import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import * as openid from 'openid-client';
import { generate } from 'otplib';
import type { Locator, Page } from 'playwright-core';
import { createSqliteDatabase } from '../support/db.ts';
import { freePort, startTestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { startGateway, startSmtpServer } from '../unit/delivery/helpers.ts';
import {
  SCREENSHOTS, authorizationRequest, backAtClient, chromiumMissing, launchChromium, mailedCode, startCallbackServer,
  type AuthorizationRequest, type BrowserEnv, type Lang,
} from './support.ts';

/**
 * Every page a person can see, in English and Dutch, at a desktop and a phone width: each one is
 * scanned by axe-core (injected from node_modules, never a CDN; a serious or critical violation
 * fails) and saved as a full-page screenshot in test-output/screenshots/<lang>-<width>/<NN>-<page>.png,
 * so a reviewer can look at every page without running anything.
 *
 * The walk is one table of steps (STEPS). Each step gets the browser from the previous page to the
 * next page a person would see; the harness then scans and photographs it at both widths. A new page
 * (passkeys, the second factor) is one more row in the table, at the place in the walk where it shows.
 * Fields and buttons are found the way INTERFACE.md names them (autofill tokens, radio values, the one
 * unnamed submit button of a form), so changes of wording do not break the walk.
 */

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [{ width: 1280, height: 800 }, { width: 390, height: 844 }] as const;
const FAILING_IMPACTS = new Set(['serious', 'critical']);

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

// ---- small helpers the steps use ------------------------------------------------------------------

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

/** The form's one unnamed submit button (INTERFACE.md: the button that moves on). */
function moveOn(page: Page, formAction: string): Locator {
  return page.locator(`form[action*="${formAction}"] button[type="submit"]:not([name])`).first();
}

async function submit(page: Page, formAction: string): Promise<void> {
  await navigate(page, () => moveOn(page, formAction).click());
}

async function signIn(w: Walk, password = w.password): Promise<void> {
  await w.page.locator('input[autocomplete="username"]').fill(w.user.login);
  await w.page.locator('input[autocomplete="current-password"]').fill(password);
  await submit(w.page, '/login');
}

async function chooseMethod(w: Walk, method: string): Promise<void> {
  await w.page.locator(`input[type="radio"][name="method"][value="${method}"]`).check();
  await submit(w.page, '/method');
}

async function typeCode(page: Page, code: string, formAction: string): Promise<void> {
  await page.locator('input[autocomplete="one-time-code"]').fill(code);
  await submit(page, formAction);
}

/** Leaves an enrolment page (target, code, secret) for the method choice again. */
async function back(page: Page): Promise<void> {
  await navigate(page, () => page.locator('button[type="submit"][name="action"][value="back"]').click());
}

const password = (lang: Lang, n: number) => `${lang} amber harbour violin ${n} quietly`;

// ---- the walk ---------------------------------------------------------------------------------------

export const STEPS: Step[] = [
  { id: 'sign-in', async go(w) {
    w.request = await authorizationRequest(w.env);
    await w.page.goto(w.request.url);
  } },
  { id: 'sign-in-wrong-password', go: (w) => signIn(w, 'not the password at all') },
  { id: 'register-choose', go: (w) => signIn(w) },
  { id: 'register-email', go: (w) => chooseMethod(w, 'email') },
  { id: 'register-email-code', async go(w) {
    await w.page.locator('input[autocomplete="email"]').fill(w.user.email!);
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
    await w.page.locator('input[autocomplete="current-password"]').fill(w.password);
    for (const field of await w.page.locator('input[autocomplete="new-password"]').all()) await field.fill(next);
    await submit(w.page, '/account/security/password');
    w.password = next;
  } },
  { id: 'reset-identifier', async go(w) {
    await w.page.goto(`${w.env.srv.issuer}/reset`);
  } },
  { id: 'reset-method', async go(w) {
    await w.page.locator('input[autocomplete="username"]').fill(w.user.login);
    await submit(w.page, '/reset');
  } },
  { id: 'reset-email', go: (w) => chooseMethod(w, 'email') },
  { id: 'reset-code', async go(w) {
    await w.page.locator('input[autocomplete="email"]').fill(w.user.email!);
    w.codeSince = w.env.smtp.received.length;
    await submit(w.page, '/target');
  } },
  { id: 'reset-code-wrong', go: (w) => typeCode(w.page, '00000000', '/code') },
  { id: 'reset-password', async go(w) {
    const { code } = await mailedCode(w.env, w.user.email!, w.codeSince ?? 0);
    await typeCode(w.page, code, '/code');
  } },
  { id: 'reset-password-rejected', async go(w) {
    for (const field of await w.page.locator('input[autocomplete="new-password"]').all()) await field.fill('short');
    await submit(w.page, '/password');
  } },
  { id: 'reset-done', async go(w) {
    const next = password(w.lang, 3);
    for (const field of await w.page.locator('input[autocomplete="new-password"]').all()) await field.fill(next);
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

// ---- the harness --------------------------------------------------------------------------------------

interface AxeNode { target: unknown[]; failureSummary?: string }
interface AxeViolation { id: string; impact: string | null; help: string; nodes: AxeNode[] }

/** Injects axe-core (from disk; CDP evaluation is not subject to the page's CSP) and runs it. */
async function scan(page: Page): Promise<{ violations: AxeViolation[]; incomplete: AxeViolation[] }> {
  // The page's globals, typed here: the tests are compiled without the DOM library.
  type Axe = { run(context: unknown, options: object): Promise<{ violations: AxeViolation[]; incomplete: AxeViolation[] }> };
  if (!(await page.evaluate(() => 'axe' in globalThis))) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const g = globalThis as unknown as { axe: Axe; document: unknown };
    const result = await g.axe.run(g.document, { resultTypes: ['violations'] });
    const brief = (v: AxeViolation) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })) });
    return { violations: result.violations.map(brief), incomplete: result.incomplete.map(brief) };
  });
}

/** What sticks out past the right edge of the screen (a phone then scrolls sideways); empty when nothing. */
async function overflowing(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    type El = { tagName: string; id: string; className: unknown; children: ArrayLike<El>; scrollWidth: number; clientWidth: number; getBoundingClientRect(): { right: number } };
    const g = globalThis as unknown as { document: { documentElement: El; querySelectorAll(s: string): ArrayLike<El> } };
    const root = g.document.documentElement;
    if (root.scrollWidth <= root.clientWidth) return [];
    const edge = root.clientWidth + 1;
    // A box past the edge, or a box whose content (a long line of text) spills out of it.
    const sticks = (el: El) => el.getBoundingClientRect().right > edge || el.scrollWidth > el.clientWidth + 1;
    const culprits = Array.from(g.document.querySelectorAll('body *'))
      .filter((el) => sticks(el) && !Array.from(el.children).some(sticks))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}${el.id ? `#${el.id}` : ''}${typeof el.className === 'string' && el.className ? `.${el.className.split(' ').join('.')}` : ''}`);
    return culprits.length ? culprits : ['html'];
  });
}

describe('browser: every page, scanned by axe-core and photographed (Chromium, en and nl, desktop and phone)', function () {
  this.timeout(300_000);
  let env: BrowserEnv | undefined;

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`      ${missing}`);
      this.skip();
    }
    env = await startEnv();
  });
  after(async () => { await env?.close(); });

  for (const lang of ['en', 'nl'] as const) {
    it(`${lang}: no serious or critical axe violation and no sideways scrolling on any of the ${STEPS.length} pages; a screenshot of each at ${WIDTHS.map((s) => s.width).join(' and ')} px`, async () => {
      const e = env!;
      for (const { width } of WIDTHS) {
        rmSync(join(SCREENSHOTS, `${lang}-${width}`), { recursive: true, force: true });
        mkdirSync(join(SCREENSHOTS, `${lang}-${width}`), { recursive: true });
      }
      const context = await e.browser.newContext({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB', viewport: WIDTHS[0] });
      const page = await context.newPage();
      page.setDefaultTimeout(10_000);
      const user = await seedUser(e.srv.app, { login: `every-page-${lang}`, password: password(lang, 1) });
      const walk: Walk = { env: e, page, lang, user, password: password(lang, 1) };
      const failures: string[] = [];
      const minor = new Map<string, Set<string>>();
      let current = '';
      try {
        for (const [i, step] of STEPS.entries()) {
          current = step.id;
          const started = Date.now();
          await step.go(walk);
          await page.waitForLoadState('load');
          const walked = Date.now() - started;
          const name = `${String(i + 1).padStart(2, '0')}-${step.id}`;
          assert.equal(await page.getAttribute('html', 'lang'), lang, `${name}: <html lang="${lang}"> at ${page.url()}`);
          for (const size of WIDTHS) {
            await page.setViewportSize(size);
            const wide = await overflowing(page);
            if (wide.length) failures.push(`${lang}-${size.width} ${name} (${new URL(page.url()).pathname}): wider than the screen, sideways scrolling; sticking out: ${wide.join(', ')}`);
            const { violations, incomplete } = await scan(page);
            if (process.env.EVERY_PAGE_DEBUG) {
              for (const v of incomplete) console.log(`      ${lang}-${size.width} ${name}: needs review [${v.impact}] ${v.id} ${v.nodes.map((n) => JSON.stringify(n.target)).join(' ')}`);
            }
            for (const v of violations) {
              const where = `${lang}-${size.width} ${name} (${new URL(page.url()).pathname})`;
              if (FAILING_IMPACTS.has(v.impact ?? '')) {
                failures.push(`${where}: [${v.impact}] ${v.id} — ${v.help}\n        ${v.nodes.map((n) => JSON.stringify(n.target)).join('\n        ')}`);
              } else {
                const pages = minor.get(`[${v.impact}] ${v.id} — ${v.help}`) ?? new Set<string>();
                pages.add(step.id);
                minor.set(`[${v.impact}] ${v.id} — ${v.help}`, pages);
              }
            }
            // Last: a full-page screenshot resizes the viewport for a moment.
            await page.screenshot({ path: join(SCREENSHOTS, `${lang}-${size.width}`, `${name}.png`), fullPage: true });
          }
          await page.setViewportSize(WIDTHS[0]);
          if (process.env.EVERY_PAGE_DEBUG) console.log(`      ${name}: walk ${walked} ms, scans and screenshots ${Date.now() - started - walked} ms`);
        }
      } catch (err) {
        await page.screenshot({ path: join(SCREENSHOTS, `${lang}-${WIDTHS[0].width}`, `failed-at-${current}.png`), fullPage: true }).catch(() => undefined);
        console.log(`      ${lang}: step "${current}" failed; the browser stood at ${page.url()}`);
        throw err;
      } finally {
        await context.close();
      }
      for (const [rule, pages] of minor) console.log(`      ${lang} (not failing) ${rule}: ${[...pages].join(', ')}`);
      if (failures.length) assert.fail(`serious or critical axe-core violations, or pages wider than the screen:\n      ${failures.join('\n      ')}`);
    });
  }
});

/**
 * The browser tests' server (support.ts), plus the demo app: its client must return to this issuer's
 * /demo/callback, so the port is chosen before the server starts. Every method can be registered.
 */
async function startEnv(): Promise<BrowserEnv> {
  const smtp = await startSmtpServer();
  const gateway = await startGateway();
  const callback = await startCallbackServer();
  const db = createSqliteDatabase();
  const port = await freePort();
  // A host name, not 127.0.0.1: WebAuthn refuses IP addresses, and passkey pages belong in this walk too.
  const issuer = `http://localhost:${port}`;
  const client = { client_id: 'browser-app', client_secret: 'browser-app-secret-0123456789' };
  const started = await startTestServer({
    database: db.url,
    port,
    overrides: {
      issuer,
      demo: true,
      clients: [
        { ...client, redirect_uris: [callback.url], post_logout_redirect_uris: [callback.url.replace(/cb$/, '')] },
        { client_id: 'demo-app', client_secret: 'demo-app-secret-0123456789', redirect_uris: [`${issuer}/demo/callback`], post_logout_redirect_uris: [`${issuer}/demo`] },
      ],
      sspr: { enabled_for: 'all', methods_required: 1, methods: ['email', 'sms', 'totp', 'recovery_codes'] },
      delivery: {
        outbox_dir: join(db.dir, 'outbox'),
        email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
        sms: { transport: 'http', http: { url: gateway.url } },
      },
    },
  });
  const srv = { ...started, issuer };
  const oidc = await openid.discovery(new URL(srv.issuer), client.client_id, client.client_secret, undefined, { execute: [openid.allowInsecureRequests] });
  const browser = await launchChromium();
  return {
    db, srv, smtp, gateway, callback, oidc, browser,
    async close() {
      await browser.close();
      await srv.close();
      await smtp.close();
      await gateway.close();
      await callback.close();
      await db.drop();
    },
  };
}
