/**
 * Shared set-up of the browser tests: Debian's Chromium driven by playwright-core (never a downloaded
 * browser), a real server with a real SMTP server and SMS gateway stand-in, and a tiny relying party
 * whose redirect_uri is a local HTTP server that records the callback.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { accessSync, constants, mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import * as client from 'openid-client';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import type { ConfigInput } from '../../src/config/schema.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { CODE_RUN, startGateway, startSmtpServer, waitFor, type ReceivedMail } from '../unit/delivery/helpers.ts';

export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
export const SCREENSHOTS = resolve(import.meta.dirname, '../../test-output/screenshots');

export type Lang = 'en' | 'nl';

/** Why the browser tests cannot run here, or null when Chromium is there. */
export function chromiumMissing(): string | null {
  try {
    accessSync(CHROMIUM_PATH, constants.X_OK);
    return null;
  } catch {
    return `no Chromium at ${CHROMIUM_PATH} (apt-get install chromium, or set CHROMIUM_PATH); browser tests skipped`;
  }
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: 20_000 });
}

/** What a user reads on the pages, per language: the tests click and fill by these. */
export const UI = {
  en: {
    username: 'User name or email', password: 'Password', signIn: 'Sign in', forgot: 'Forgot your password?',
    email: 'Email', emailAddress: 'Email address', next: 'Next', verify: 'Verify', finish: 'Finish', allow: 'Allow',
    sendCode: 'Send code', newPassword: 'New password', confirmPassword: 'New password again', resetPassword: 'Reset password',
    code: 'Code',
  },
  nl: {
    username: 'Gebruikersnaam of e-mailadres', password: 'Wachtwoord', signIn: 'Aanmelden', forgot: 'Wachtwoord vergeten?',
    email: 'E-mail', emailAddress: 'E-mailadres', next: 'Volgende', verify: 'Verifiëren', finish: 'Voltooien', allow: 'Toestaan',
    sendCode: 'Code verzenden', newPassword: 'Nieuw wachtwoord', confirmPassword: 'Nieuw wachtwoord bevestigen', resetPassword: 'Wachtwoord opnieuw instellen',
    code: 'Verificatiecode',
  },
} as const;

/** A catalog key that reached the page instead of its text (`registration:code.sent`). */
export const UNTRANSLATED = /\b(?:pages|errors|registration|reset|mail|passkey|mfa):[a-z_]+(?:\.[a-z_]+)*/;

/** The relying party's redirect_uri: records every callback and answers with a small page. */
export async function startCallbackServer() {
  const calls: URL[] = [];
  const server = createServer((req, res) => {
    calls.push(new URL(req.url ?? '/', `http://${req.headers.host}`));
    res.setHeader('content-type', 'text/html; charset=utf-8');
    res.end('<!DOCTYPE html><html lang="en"><title>Client</title><p>Back at the client.</p></html>');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/cb`,
    calls,
    close: () => new Promise<void>((done) => { server.closeAllConnections(); server.close(() => done()); }),
  };
}

export interface BrowserEnv {
  db: TestDatabase & { dir: string };
  srv: TestServer;
  smtp: Awaited<ReturnType<typeof startSmtpServer>>;
  gateway: Awaited<ReturnType<typeof startGateway>>;
  callback: Awaited<ReturnType<typeof startCallbackServer>>;
  oidc: client.Configuration;
  browser: Browser;
  close(): Promise<void>;
}

const CLIENT = { client_id: 'browser-app', client_secret: 'browser-app-secret-0123456789' };

/** One server (SQLite, SMTP, SMS gateway), one callback server and one Chromium for a test file. */
/**
 * The usual hooks of a browser test block: skipped, with the reason, where Chromium is missing; else one
 * BrowserEnv for the block (handed to `use`), closed after it.
 */
export function useBrowserEnv(use: (env: BrowserEnv) => void, ...args: Parameters<typeof startBrowserEnv>): void {
  let env: BrowserEnv | undefined;
  before(async function () {
    const missing = chromiumMissing();
    if (missing) {
      console.log(`      ${missing}`);
      this.skip();
    }
    env = await startBrowserEnv(...args);
    use(env);
  });
  after(async () => { await env?.close(); });
}

export async function startBrowserEnv(sspr: NonNullable<ConfigInput['sspr']> = { enabled_for: 'all', methods_required: 1 }, options: { localhost?: boolean; demo?: boolean; config?: Partial<ConfigInput> } = {}): Promise<BrowserEnv> {
  const smtp = await startSmtpServer();
  const gateway = await startGateway();
  const callback = await startCallbackServer();
  const db = createSqliteDatabase();
  // WebAuthn refuses an IP address as rpId: passkey tests run on http://localhost. The demo app's
  // client returns to this issuer's /demo/callback, so its port is chosen before the server starts.
  const port = options.localhost || options.demo ? await freePort() : undefined;
  const issuer = port ? `http://localhost:${port}` : undefined;
  const demoClient = issuer && options.demo
    ? [{ client_id: 'demo-app', client_secret: 'demo-app-secret-0123456789', redirect_uris: [`${issuer}/demo/callback`], post_logout_redirect_uris: [`${issuer}/demo`] }]
    : [];
  const srv = await startTestServer({
    database: db.url,
    port,
    overrides: {
      ...(issuer ? { issuer } : {}),
      ...(options.demo ? { demo: true } : {}),
      clients: [{ ...CLIENT, redirect_uris: [callback.url], post_logout_redirect_uris: [callback.url.replace(/cb$/, '')] }, ...demoClient],
      sspr,
      delivery: {
        outbox_dir: join(db.dir, 'outbox'),
        email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
        sms: { transport: 'http', http: { url: gateway.url } },
      },
      ...options.config,
    },
  });
  const oidc = await client.discovery(new URL(srv.issuer), CLIENT.client_id, CLIENT.client_secret, undefined, { execute: [client.allowInsecureRequests] });
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

export interface AuthorizationRequest {
  url: string;
  /** Exchanges the code of the callback the browser landed on. */
  finish(callbackUrl: string): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>;
}

/** An authorization request as openid-client builds it (PKCE, state). */
export async function authorizationRequest(env: BrowserEnv, extra: Record<string, string> = {}): Promise<AuthorizationRequest> {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(env.oidc, {
    redirect_uri: env.callback.url,
    scope: 'openid profile email',
    prompt: 'consent',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...extra,
  });
  return {
    url: url.toString(),
    finish: (callbackUrl: string) => client.authorizationCodeGrant(env.oidc, new URL(callbackUrl), { pkceCodeVerifier: verifier, expectedState: state }),
  };
}

/** A fresh browser profile in a language, with console errors collected (CSP violations show there). */
export async function newPage(env: BrowserEnv, locale: string): Promise<{ context: BrowserContext; page: Page; consoleErrors: string[] }> {
  const context = await env.browser.newContext({ locale, viewport: { width: 800, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const consoleErrors: string[] = [];
  page.on('console', (m) => { if (m.type() === 'error' && !/favicon/.test(m.location().url)) consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  return { context, page, consoleErrors };
}

/**
 * Checks the page a step landed on (language, no untranslated key, no error status) and saves its
 * screenshot as test-output/screenshots/<lang>/<flow>-<nn>-<step>.png.
 */
export function pageChecker(lang: Lang, flow: string) {
  const dir = join(SCREENSHOTS, lang);
  mkdirSync(dir, { recursive: true });
  let n = 0;
  const seen: string[] = [];
  return {
    seen,
    async check(page: Page, step: string): Promise<void> {
      await page.waitForLoadState('load');
      n += 1;
      await page.screenshot({ path: join(dir, `${flow}-${String(n).padStart(2, '0')}-${step}.png`), fullPage: true });
      assert.equal(await page.getAttribute('html', 'lang'), lang, `${step}: <html lang="${lang}">`);
      const html = (await page.content()).replace(/\sdata-[\w-]+="[^"]*"/g, '');
      const key = UNTRANSLATED.exec(html);
      assert.equal(key, null, `${step}: untranslated key ${key?.[0]} on ${page.url()}`);
      seen.push(`${step} ${new URL(page.url()).pathname}`);
    },
    /** On a failure: a screenshot of where the browser stood, and its URL and text in the log. */
    async failed(page: Page): Promise<void> {
      try {
        await page.screenshot({ path: join(dir, `${flow}-failed.png`), fullPage: true });
        console.log(`      browser stood at ${page.url()}:\n${(await page.locator('body').innerText()).slice(0, 1500)}`);
      } catch { /* the page may be gone */ }
    },
  };
}

/** Decodes RFC 2047 encoded words in a header (a Dutch subject may carry ë). */
export function decodeHeader(value: string | undefined): string {
  return (value ?? '').replace(/=\?utf-8\?([bq])\?([^?]*)\?=\s*/gi, (_, enc: string, text: string) =>
    enc.toLowerCase() === 'b'
      ? Buffer.from(text, 'base64').toString('utf8')
      : Buffer.from(text.replace(/_/g, ' ').replace(/=([0-9a-f]{2})/gi, (_m, h: string) => String.fromCharCode(parseInt(h, 16))), 'latin1').toString('utf8'));
}

/** The first mail to `to` after `since` mails had arrived, with its one code. */
export async function mailedCode(env: BrowserEnv, to: string, since: number): Promise<{ code: string; mail: ReceivedMail }> {
  let mail: ReceivedMail | undefined;
  await waitFor(() => (mail = env.smtp.received.slice(since).find((m) => m.to.includes(to) && new RegExp(CODE_RUN.source).test(m.text))) !== undefined, 5000);
  const codes = mail!.text.match(CODE_RUN)!;
  assert.equal(codes.length, 1, 'a code mail carries one run of digits');
  return { code: codes[0], mail: mail! };
}

/** Waits until the browser is back at the client's redirect_uri; returns that URL. */
export async function backAtClient(env: BrowserEnv, page: Page): Promise<string> {
  await page.waitForURL((u) => u.href.startsWith(env.callback.url));
  return page.url();
}
