import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { seedUser } from '../support/users.ts';
import { STEPS, password, type Walk } from './every-page-steps.ts';
import { SCREENSHOTS, chromiumMissing, startBrowserEnv, type BrowserEnv, type Lang } from './support.ts';

/**
 * Every page a person can see, in English and Dutch, at a desktop and a phone width: each one is
 * scanned by axe-core (injected from node_modules, never a CDN; a serious or critical violation
 * fails) and saved as a full-page screenshot in test-output/screenshots/<lang>-<width>/<NN>-<page>.png,
 * so a reviewer can look at every page without running anything.
 * Also fails on a page wider than the screen (a phone would scroll sideways). The pages and the way
 * from one to the next are the table STEPS in every-page-steps.ts.
 */

const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [{ width: 1280, height: 800 }, { width: 390, height: 844 }] as const;
const FAILING_IMPACTS = new Set(['serious', 'critical']);
const LANGS: readonly Lang[] = ['en', 'nl'];

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

/**
 * Walks every page in one language; returns what failed (axe, width) and what axe reported below
 * serious. A step that cannot reach its page throws (after a screenshot of where the browser stood).
 */
async function walkEveryPage(env: BrowserEnv, lang: Lang): Promise<{ failures: string[]; minor: Map<string, Set<string>> }> {
  for (const { width } of WIDTHS) {
    rmSync(join(SCREENSHOTS, `${lang}-${width}`), { recursive: true, force: true });
    mkdirSync(join(SCREENSHOTS, `${lang}-${width}`), { recursive: true });
  }
  const context = await env.browser.newContext({ locale: lang === 'nl' ? 'nl-NL' : 'en-GB', viewport: WIDTHS[0] });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const user = await seedUser(env.srv.app, { login: `every-page-${lang}`, password: password(lang, 1) });
  const walk: Walk = { env, page, lang, user, password: password(lang, 1) };
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
        const where = `${lang}-${size.width} ${name} (${new URL(page.url()).pathname})`;
        const wide = await overflowing(page);
        if (wide.length) failures.push(`${where}: wider than the screen, sideways scrolling; sticking out: ${wide.join(', ')}`);
        const { violations, incomplete } = await scan(page);
        if (process.env.EVERY_PAGE_DEBUG) {
          for (const v of incomplete) console.log(`      ${where}: needs review [${v.impact}] ${v.id} ${v.nodes.map((n) => JSON.stringify(n.target)).join(' ')}`);
        }
        for (const v of violations) {
          if (FAILING_IMPACTS.has(v.impact ?? '')) {
            failures.push(`${where}: [${v.impact}] ${v.id} — ${v.help}\n        ${v.nodes.map((n) => JSON.stringify(n.target)).join('\n        ')}`);
          } else {
            const rule = `[${v.impact}] ${v.id} — ${v.help}`;
            minor.set(rule, (minor.get(rule) ?? new Set<string>()).add(step.id));
          }
        }
        // Last: a full-page screenshot resizes the viewport for a moment.
        await page.screenshot({ path: join(SCREENSHOTS, `${lang}-${size.width}`, `${name}.png`), fullPage: true });
      }
      await page.setViewportSize(WIDTHS[0]);
      if (process.env.EVERY_PAGE_DEBUG) console.log(`      ${lang} ${name}: walk ${walked} ms, scans and screenshots ${Date.now() - started - walked} ms`);
    }
  } catch (err) {
    await page.screenshot({ path: join(SCREENSHOTS, `${lang}-${WIDTHS[0].width}`, `failed-at-${current}.png`), fullPage: true }).catch(() => undefined);
    throw new Error(`${lang}: step "${current}" failed; the browser stood at ${page.url()}: ${(err as Error).message}`, { cause: err });
  } finally {
    await context.close();
  }
  return { failures, minor };
}

describe('browser: every page, scanned by axe-core and photographed (Chromium, en and nl, desktop and phone)', function () {
  this.timeout(480_000);
  let env: BrowserEnv | undefined;
  type Outcome = { failures: string[]; minor: Map<string, Set<string>> } | { error: unknown };
  const walks = new Map<Lang, Promise<Outcome>>();

  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`      ${missing}`);
      this.skip();
    }
    // A host name, not 127.0.0.1 (the demo option implies it): passkey pages belong in this walk too.
    env = await startBrowserEnv({ enabled_for: 'all', methods_required: 1, methods: ['email', 'sms', 'totp', 'recovery_codes'] }, { demo: true });
    // Both languages at once, in two browser contexts: one walk mostly waits on either the server or
    // the browser, so two keep two cores busy. Settled here, so a failure waits for its own test.
    for (const lang of LANGS) walks.set(lang, walkEveryPage(env, lang).catch((error: unknown) => ({ error })));
  });
  after(async () => {
    await Promise.all(walks.values());
    await env?.close();
  });

  for (const lang of LANGS) {
    it(`${lang}: no serious or critical axe violation and no sideways scrolling on any of the ${STEPS.length} pages; a screenshot of each at ${WIDTHS.map((s) => s.width).join(' and ')} px`, async () => {
      const outcome = await walks.get(lang)!;
      if ('error' in outcome) throw outcome.error;
      for (const [rule, pages] of outcome.minor) console.log(`      ${lang} (not failing) ${rule}: ${[...pages].join(', ')}`);
      if (outcome.failures.length) assert.fail(`serious or critical axe-core violations, or pages wider than the screen:\n      ${outcome.failures.join('\n      ')}`);
    });
  }
});

