import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { attr, Browser, inputByAutocomplete, type Page } from './browser.ts';
import type { TestServer } from './server.ts';
import type { SeededUser } from './users.ts';

/**
 * Steps the attack tests share: a victim's self-service reset over HTTP (as a browser does it), a
 * sign-in parked before its resume, and the silent `prompt=none` probe that says whether a session
 * cookie still signs anyone in.
 */

const flowIdOf = (b: Browser) => b.cookies.find((c) => c.name.endsWith('oidc_sspr_reset'))!.value.split('.')[0];

/** Walks /reset up to the new-password page with the account's registered email method. */
export async function resetUpToNewPassword(b: Browser, issuer: string, user: SeededUser & { recovery: string }, codes: Map<string, string>): Promise<Page> {
  const start = await b.get(`${issuer}/reset`);
  const method = await b.submit(start, { [inputByAutocomplete(start.html, 'username')]: user.login });
  const target = await b.submit(method, { method: 'email' });
  const codePage = await b.submit(target, { target: user.recovery });
  const code = codes.get(flowIdOf(b));
  assert.ok(code, `a code was issued: ${codePage.status} ${codePage.url}`);
  const passwordPage = await b.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: code });
  assert.equal(passwordPage.status, 200, passwordPage.html.slice(0, 400));
  return passwordPage;
}

/** Submits the new password on the reset's last page; asserts the reset went through. */
export async function submitNewPassword(b: Browser, page: Page, password: string): Promise<Page> {
  const names = [...page.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
  assert.equal(names.length, 2, 'the new password twice');
  const done = await b.submit(page, { [names[0]]: password, [names[1]]: password });
  assert.equal(done.status, 200, done.html.slice(0, 400));
  return done;
}

/** A whole reset by a victim who still has their recovery mailbox. */
export async function resetPassword(issuer: string, user: SeededUser & { recovery: string }, codes: Map<string, string>, password: string): Promise<void> {
  const b = new Browser();
  await submitNewPassword(b, await resetUpToNewPassword(b, issuer, user, codes), password);
}

/**
 * An authorization request of our own account console (a first-party client: no consent page), sent
 * to `base` (one instance's own address; the issuer's by default).
 */
export function silentAuthorizeUrl(issuer: string, prompt = 'none', base = issuer): string {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${base}/auth`);
  url.search = new URLSearchParams({
    client_id: 'oidc-sspr-account',
    response_type: 'code',
    scope: 'openid',
    redirect_uri: `${issuer}/account/callback`,
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('base64url'),
    ...(prompt ? { prompt } : {}),
  }).toString();
  return url.toString();
}

/** Whether these cookies still carry a signed-in session: `prompt=none` answers with a code or `login_required`. */
export async function signedIn(srv: TestServer, cookies: Browser['cookies']): Promise<boolean> {
  const b = new Browser();
  b.cookies = cookies.map((c) => ({ ...c }));
  const res = await b.request(silentAuthorizeUrl(srv.issuer));
  const location = res.headers.get('location') ?? '';
  if (/[?&]error=login_required/.test(location)) return false;
  assert.match(location, /[?&]code=/, `neither a code nor login_required: ${res.status} ${location}`);
  return true;
}

/**
 * An attacker who knows the password posts it on the sign-in page of an authorization request and
 * stops before following the redirect back to the provider: the login result waits in the interaction.
 * Returns the browser and the resume URL.
 */
export async function parkSignIn(srv: TestServer, login: string, password: string): Promise<{ browser: Browser; resume: string }> {
  const browser = new Browser();
  const page = await browser.get(silentAuthorizeUrl(srv.issuer, 'login'));
  assert.equal(page.status, 200, `the sign-in page: ${page.status}`);
  const form = /<form\b[^>]*action="([^"]*\/login)"/.exec(page.html);
  assert.ok(form, 'a sign-in form');
  const hidden = Object.fromEntries([...page.html.matchAll(/<input\b([^>]*type="hidden"[^>]*)>/g)].map((m) => [attr(m[1], 'name')!, attr(m[1], 'value') ?? '']));
  const body = new URLSearchParams({ ...hidden, [inputByAutocomplete(page.html, 'username')]: login, [inputByAutocomplete(page.html, 'current-password')]: password });
  const posted = await browser.request(new URL(form[1], page.url).toString(), { body: body.toString() });
  assert.equal(posted.status, 303, `the password was accepted: ${posted.status}`);
  return { browser, resume: new URL(posted.headers.get('location')!, posted.url).toString() };
}

/** Follows a parked sign-in to its end: true when it reaches the app's callback with a code (signed in). */
export async function resumeSignsIn(browser: Browser, resume: string): Promise<boolean> {
  let url = resume;
  for (let i = 0; i < 10; i++) {
    const res = await browser.request(url);
    const location = res.headers.get('location');
    if (!location) return false;
    if (location.includes('/account/callback')) return /[?&]code=/.test(location);
    url = new URL(location, res.url).toString();
  }
  return false;
}
