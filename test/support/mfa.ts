import assert from 'node:assert/strict';
import { generate } from 'otplib';
import type { App } from '../../src/app.ts';
import type { ConfigInput, MethodType } from '../../src/config/schema.ts';
import { Browser, inputByAutocomplete, type Page } from './browser.ts';
import { TestClock } from './clock.ts';
import { createPostgresDatabase, createSqliteDatabase, type TestDatabase } from './db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from './oidc.ts';
import { startTestServer, type TestServer } from './server.ts';
import { totpSecret } from './methods.ts';
import { CODE_RUN, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

/** The second factor at sign-in, as tests drive it over HTTP. */

export type Landed = Page & { redirectedTo?: string };
type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;

export interface MfaEnv {
  db: TestDatabase;
  srv: TestServer;
  clock: TestClock;
  rp: RelyingParty;
  smtp: Smtp;
  app: App;
  close(): Promise<void>;
}

export async function startMfaEnv(kind: 'sqlite' | 'postgres', overrides: Partial<ConfigInput>): Promise<MfaEnv> {
  const smtp = await startSmtpServer();
  const db = kind === 'postgres' ? await createPostgresDatabase() : createSqliteDatabase();
  const clock = new TestClock();
  const srv = await startTestServer({
    database: db.url,
    clock,
    overrides: {
      delivery: { outbox_dir: `${'dir' in db ? (db as { dir: string }).dir : '/tmp'}/outbox`, email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
      ...overrides,
    },
  });
  return {
    db, srv, clock, smtp, app: srv.app, rp: await relyingParty(srv.issuer),
    async close() {
      await srv.close();
      await smtp.close();
      await db.drop();
    },
  };
}

/** Registers a verified method straight in the store; returns the TOTP secret for `totp`. */
export async function addMethod(app: App, accountId: string, type: MethodType, target: string | null = null): Promise<string | null> {
  if (type === 'totp') {
    const e = await totpSecret(app);
    await app.sspr.methodRepo.saveVerified({ accountId, type, secretEnc: e.secretEnc });
    return e.secret;
  }
  await app.sspr.methodRepo.saveVerified({ accountId, type, target });
  return null;
}

export const totpNow = (env: MfaEnv, secret: string) => generate({ secret, epoch: Math.floor(env.clock.now().getTime() / 1000) });

export function assertSecondStep(page: Landed, step = '', status = 200): void {
  assert.equal(page.status, status, `expected the second step, got ${page.status} ${page.url}: ${page.html.slice(0, 600)}`);
  assert.match(page.url, new RegExp(`/interaction/[^/]+/mfa${step}$`), `expected the second step, got ${page.url}`);
  assert.match(/<h1>([^<]*)<\/h1>/.exec(page.html)?.[1] ?? '', /verif|second step|tweede stap/i);
}

/** Chooses a method on the second step's page. */
export function chooseFactor(browser: Browser, page: Page, method: string): Promise<Landed> {
  assert.match(page.html, new RegExp(`<label for="method-${method}"><input type="radio" id="method-${method}" name="method" value="${method}"`));
  return browser.submit(page, { method });
}

/** Types a code on the second step's code page (and ticks "remember" when asked). */
export function typeCode(browser: Browser, page: Page, code: string, remember = false): Promise<Landed> {
  const field = inputByAutocomplete(page.html, 'one-time-code');
  return browser.submit(page, { [field]: code, ...(remember ? { remember: 'yes' } : {}) });
}

/** The newest code mailed to `to` after `since` mails. */
export async function mailedCode(env: MfaEnv, to: string, since: number): Promise<string> {
  const mine = () => env.smtp.received.filter((m) => m.to.includes(to));
  await waitFor(() => mine().length > since);
  return mine().at(-1)!.text.match(CODE_RUN)![0];
}

/** Starts an authorization request and signs in with the password; returns the page after it. */
export async function passwordStep(env: MfaEnv, browser: Browser, user: { login: string; password: string }, extra: Record<string, string> = {}) {
  const { page, verifier, state } = await env.rp.start(browser, extra);
  const landed = await signIn(browser, page, user.login, user.password);
  return { landed, verifier, state };
}

/** Consent (when asked), then the code exchange; the ID token's claims. */
export async function tokensFrom(env: MfaEnv, browser: Browser, page: Landed, verifier: string, state: string) {
  const done = await consentIfAsked(browser, page);
  assert.ok(done.redirectedTo?.startsWith(env.rp.redirectUri), `expected the client's callback, got ${done.status} ${done.url}: ${done.html.slice(0, 600)}`);
  const tokens = await env.rp.finish(done.redirectedTo!, verifier, state);
  return tokens.claims()!;
}
