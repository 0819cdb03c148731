import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as client from 'openid-client';
import type { ConfigInput } from '../../src/config/schema.ts';
import { catalogs } from '../../src/i18n/locales/index.ts';
import { Browser, attr, findForm, inputByAutocomplete, link, messageIds, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startSmtpServer, waitFor, type ReceivedMail } from '../unit/delivery/helpers.ts';

type Lang = 'en' | 'nl';
type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
type Landed = Page & { redirectedTo?: string };

const VIEWS = resolve(import.meta.dirname, '../../views');
/** A catalog key that reached a page or a mail instead of its text. */
const UNTRANSLATED = /\b(?:pages|errors|registration|reset|mail):[a-z_]+(?:\.[a-z_]+)*/;
/** Everyday words of the other language: a page in one language must not contain them. */
const FOREIGN: Record<Lang, RegExp> = {
  en: /\b(?:uw|het|een|niet|voor|naar|wachtwoord|aanmelden|volgende)\b/i,
  nl: /\b(?:the|your|you|and|password|sign in|next|verify|enter)\b/i,
};

/** A browser that keeps every HTML page it was served, so each can be checked for its language. */
class RecordingBrowser extends Browser {
  pages: Page[] = [];
  override async request(url: string, init: Parameters<Browser['request']>[1] = {}): Promise<Page> {
    const page = await super.request(url, init);
    if ((page.status < 300 || page.status >= 400) && (page.headers.get('content-type') ?? '').includes('text/html')) this.pages.push(page);
    return page;
  }
}

/** Visible text of a page (tags, scripts and the language switcher left out). */
function visibleText(html: string): string {
  return html
    .replace(/<footer class="languages">[\s\S]*?<\/footer>/, '')
    .replace(/<(script|style)\b[\s\S]*?<\/\1>/g, '')
    .replace(/<svg\b[\s\S]*?<\/svg>/g, '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&[#\w]+;/g, ' ');
}

/** The page says it is in `lang`, has no catalog key left in it, and no words of the other language. */
function assertPageIn(page: Page, lang: Lang): void {
  const where = `${page.status} ${page.url}`;
  assert.match(page.html, new RegExp(`<html lang="${lang}">`), `<html lang="${lang}"> on ${where}`);
  // data-message-id/data-error-code name keys on purpose; everything else must be text.
  const key = UNTRANSLATED.exec(page.html.replace(/\sdata-[\w-]+="[^"]*"/g, ''));
  assert.equal(key, null, `untranslated key "${key?.[0]}" on ${where}`);
  const foreign = FOREIGN[lang].exec(visibleText(page.html));
  assert.equal(foreign, null, `"${foreign?.[0]}" (not ${lang}) on ${where}:\n${visibleText(page.html).replace(/\s+/g, ' ').slice(0, 600)}`);
}

function assertMailIn(mail: ReceivedMail, lang: Lang): void {
  const all = `${mail.headers.subject ?? ''}\n${mail.text}`;
  assert.equal(UNTRANSLATED.exec(all), null, `untranslated key in mail "${mail.headers.subject}"`);
  assert.equal(FOREIGN[lang].exec(all.replace(/oidc-sspr|https?:\S+|\S+@\S+/g, '')), null, `mail "${mail.headers.subject}" is not in ${lang}:\n${mail.text}`);
}

interface Env { db: TestDatabase & { dir: string }; srv: TestServer; smtp: Smtp; rp: RelyingParty }

async function startEnv(overrides: Partial<ConfigInput> = {}): Promise<Env> {
  const smtp = await startSmtpServer();
  const db = createSqliteDatabase();
  const srv = await startTestServer({
    database: db.url,
    overrides: {
      sspr: { enabled_for: 'all', methods_required: 1, helpdesk: { url: 'https://help.example.org/', email: '' } },
      delivery: { outbox_dir: join(db.dir, 'outbox'), email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } } },
      ...overrides,
    },
  });
  return { db, srv, smtp, rp: await relyingParty(srv.issuer) };
}

async function stopEnv(env: Env | undefined): Promise<void> {
  if (!env) return;
  await env.srv.close();
  await env.smtp.close();
  await env.db.drop();
}

/** The first mail with a code to `to` after `since` mails. */
async function codeMail(env: Env, to: string, since: number): Promise<{ code: string; mail: ReceivedMail }> {
  let mail: ReceivedMail | undefined;
  await waitFor(() => (mail = env.smtp.received.slice(since).find((m) => m.to.includes(to) && new RegExp(CODE_RUN.source).test(m.text))) !== undefined);
  return { code: mail!.text.match(CODE_RUN)![0], mail: mail! };
}

const wrong = (code: string) => [...code].map((d) => String((Number(d) + 1) % 10)).join('');

function newPasswordFields(page: Page): [string, string] {
  const names = [...page.html.matchAll(/<input\b([^>]*)>/g)].filter((m) => attr(m[1], 'autocomplete') === 'new-password').map((m) => attr(m[1], 'name')!);
  assert.equal(names.length, 2);
  return [names[0], names[1]];
}

describe('page, error and message language (HTTP)', function () {
  this.timeout(60_000);
  let env: Env;
  let n = 0;
  const user = (lang: Lang, extra: { email?: string } = {}): Promise<SeededUser> => seedUser(env.srv.app, { login: `${lang}user${++n}`, ...extra });

  before(async () => { env = await startEnv(); });
  after(() => stopEnv(env));

  it('ui_locales=nl: the Dutch sign-in page and Dutch registration code mail, though the browser asks for English', async () => {
    const u = await user('nl');
    const b = new Browser();
    b.acceptLanguage = 'en-GB,en;q=0.9';
    const { page } = await env.rp.start(b, { ui_locales: 'nl' });
    assert.match(page.html, /<html lang="nl">/);
    assert.match(page.html, />Wachtwoord vergeten\?</);
    assert.match(page.html, /<label for="password">Wachtwoord<\/label>/);
    const register = await signIn(b, page, u.login, u.password);
    assert.match(register.html, /<html lang="nl">/);
    const target = await b.submit(register, { method: 'email' }, { actionPart: '/method' });
    const since = env.smtp.received.length;
    const codePage = await b.submit(target, { email: u.email! }, { actionPart: '/target' });
    assert.match(codePage.html, />Verifiëren</);
    const { mail } = await codeMail(env, u.email!, since);
    assert.equal(mail.headers.subject, 'Uw verificatiecode voor oidc-sspr');
    assert.match(mail.text, /^Hallo /);
    assert.match(mail.text, /selfservice voor wachtwoordherstel/);
    assertMailIn(mail, 'nl');
  });

  it('ui_locales=en: the English pages and mail, though the browser asks for Dutch', async () => {
    const u = await user('en');
    const b = new Browser();
    b.acceptLanguage = 'nl-NL,nl;q=0.9';
    const { page } = await env.rp.start(b, { ui_locales: 'en' });
    assert.match(page.html, /<html lang="en">/);
    assert.match(page.html, />Forgot your password\?</);
    const register = await signIn(b, page, u.login, u.password);
    const target = await b.submit(register, { method: 'email' }, { actionPart: '/method' });
    const since = env.smtp.received.length;
    const codePage = await b.submit(target, { email: u.email! }, { actionPart: '/target' });
    assert.match(codePage.html, />Verify</);
    const { mail } = await codeMail(env, u.email!, since);
    assert.equal(mail.headers.subject, 'Your oidc-sspr verification code');
    assertMailIn(mail, 'en');
  });

  it('ui_locales takes the first supported tag (fr nl-BE → nl)', async () => {
    const b = new Browser();
    const { page } = await env.rp.start(b, { ui_locales: 'fr-FR nl-BE en' });
    assert.match(page.html, /<html lang="nl">/);
  });

  it('?lang=nl sets a cookie that later pages follow, an authorization request included; ?lang=en switches back', async () => {
    const b = new Browser();
    b.acceptLanguage = 'en';
    const first = await b.get(`${env.srv.issuer}/reset?lang=nl`);
    assert.match(first.html, /<html lang="nl">/);
    assert.match(first.headers.getSetCookie().join('\n'), /oidc_sspr_lang=nl;.*path=\/;.*httponly/i);
    const later = await b.get(`${env.srv.issuer}/reset`);
    assert.match(later.html, /<html lang="nl">/);
    const { page } = await env.rp.start(b);
    assert.match(page.html, /<html lang="nl">/);
    assert.match(page.html, />Wachtwoord vergeten\?</);
    const missing = await b.get(`${env.srv.issuer}/no-such-page`);
    assert.equal(missing.status, 404);
    assertPageIn(missing, 'nl');

    const back = await b.get(`${env.srv.issuer}/reset?lang=en`);
    assert.match(back.html, /<html lang="en">/);
    assert.match((await b.get(`${env.srv.issuer}/reset`)).html, /<html lang="en">/);
    // The language switcher links on every page carry ?lang=, on the page's own address (a GET).
    assert.match(later.html, /href="\/reset\?lang=en"/);
  });

  it('an unknown ?lang= or cookie value is ignored', async () => {
    const b = new Browser();
    b.acceptLanguage = 'nl';
    const page = await b.get(`${env.srv.issuer}/reset?lang=xx`);
    assert.match(page.html, /<html lang="nl">/);
    assert.doesNotMatch(page.headers.getSetCookie().join('\n'), /oidc_sspr_lang=/);
    b.cookies.push({ name: 'oidc_sspr_lang', value: 'de', path: '/', origin: env.srv.issuer });
    assert.match((await b.get(`${env.srv.issuer}/reset`)).html, /<html lang="nl">/);
  });

  it('Accept-Language: nl works, by weight, on our pages and on the provider\'s error page', async () => {
    for (const header of ['nl', 'nl-NL', 'fr-FR, nl;q=0.8, en;q=0.5', 'en;q=0.2, nl-BE;q=0.9']) {
      const b = new Browser();
      b.acceptLanguage = header;
      const { page } = await env.rp.start(b);
      assert.match(page.html, /<html lang="nl">/, header);
      assert.match(page.html, /Wachtwoord vergeten\?/, header);
    }
    const b = new Browser();
    b.acceptLanguage = 'nl';
    const bad = await b.get(`${env.srv.issuer}/auth?client_id=no-such-app&response_type=code&scope=openid&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcb`);
    assert.equal(bad.status, 400);
    assertPageIn(bad, 'nl');
    assert.match(bad.html, /niet bekend/);
    const en = new Browser();
    en.acceptLanguage = 'fr, en;q=0.1';
    assert.match((await env.rp.start(en)).page.html, /<html lang="en">/);
  });

  it('the configured language is the fallback when nothing else says', async () => {
    const dutch = await startEnv({ language: 'nl' });
    try {
      const b = new Browser();
      b.acceptLanguage = 'fr-FR,de;q=0.5';
      const { page } = await dutch.rp.start(b);
      assert.match(page.html, /<html lang="nl">/);
      assert.match(page.html, /Wachtwoord vergeten\?/);
      b.acceptLanguage = '';
      assert.match((await b.get(`${dutch.srv.issuer}/reset`)).html, /<html lang="nl">/);
      // The browser's wish beats the fallback.
      b.acceptLanguage = 'en';
      assert.match((await b.get(`${dutch.srv.issuer}/reset`)).html, /<html lang="en">/);
    } finally {
      await stopEnv(dutch);
    }
    const b = new Browser();
    b.acceptLanguage = 'fr';
    assert.match((await env.rp.start(b)).page.html, /<html lang="en">/, 'the default language is en');
  });

  it('every view uses only keys both catalogs have', () => {
    const has = (lang: Lang, key: string) => {
      const [ns, path] = key.split(':');
      let node: unknown = (catalogs[lang] as Record<string, unknown>)[ns];
      for (const part of path.split('.')) node = (node as Record<string, unknown> | undefined)?.[part];
      return typeof node === 'string';
    };
    // A key used with { count } lives as key_one/key_other (i18next plurals).
    const exists = (lang: Lang, key: string) => has(lang, key) || (has(lang, `${key}_one`) && has(lang, `${key}_other`));
    const used: string[] = [];
    for (const file of readdirSync(VIEWS).filter((f) => f.endsWith('.ejs'))) {
      const source = readFileSync(join(VIEWS, file), 'utf8');
      // Literal keys only; keys built at runtime are caught on the rendered pages below.
      for (const m of source.matchAll(/\bt\('([a-z_]+:[a-z_.]+)'\s*[,)]/g)) used.push(`${file}: ${m[1]}`);
    }
    assert.ok(used.length > 40, `found ${used.length} keys in the views`);
    const missing = used.filter((u) => { const key = u.split(': ')[1]; return !exists('en', key) || !exists('nl', key); });
    assert.deepEqual(missing, []);
  });

  for (const lang of ['en', 'nl'] as const) {
    it(`${lang}: every page of sign-in, registration, consent, security info, sign-out and both resets is in ${lang}, with no untranslated key; so are the mails`, async () => {
      const u = await user(lang, { email: `${lang}sweep@example.org` });
      const mailsBefore = env.smtp.received.length;
      const b = new RecordingBrowser();
      b.acceptLanguage = lang;
      const ask = { ui_locales: lang };

      // Sign-in: a wrong password first (an error on the page), then the right one.
      const start = await env.rp.start(b, ask);
      const refused = await signIn(b, start.page, u.login, 'not the password at all');
      assert.deepEqual(messageIds(refused.html), ['errors:invalid_credentials']);
      const register = await b.submit(refused, { login: u.login, password: u.password });
      assert.match(register.url, /\/register$/);

      // Registration: the authenticator page and back; an unusable address; a wrong code; the right one.
      const totp = await b.submit(register, { method: 'totp' }, { actionPart: '/method' });
      assert.match(totp.html, /otpauth:\/\//);
      const chooseAgain = await b.submit(totp, { action: 'back' }, { actionPart: '/verify' });
      const target = await b.submit(chooseAgain, { method: 'email' }, { actionPart: '/method' });
      const badTarget = await b.submit(target, { email: 'not-an-address' }, { actionPart: '/target' });
      assert.deepEqual(messageIds(badTarget.html), ['registration:errors.email_invalid']);
      let since = env.smtp.received.length;
      const codePage = await b.submit(badTarget, { email: u.email! }, { actionPart: '/target' });
      const registration = await codeMail(env, u.email!, since);
      const badCode = await b.submit(codePage, { code: wrong(registration.code) }, { actionPart: '/verify' });
      assert.deepEqual(messageIds(badCode.html), ['errors:sspr.code_invalid']);
      const added = await b.submit(badCode, { code: registration.code }, { actionPart: '/verify' });
      assert.ok(messageIds(added.html).includes('registration:added'));
      const consent = await b.submit(added, {}, { actionPart: '/finish' });
      assert.match(consent.html, /\/confirm"/);
      const back = await consentIfAsked(b, consent);
      const tokens = await env.rp.finish(back.redirectedTo!, start.verifier, start.state);

      // Security info of the signed-in user (no OIDC request: the language comes from the browser).
      const security = await b.get(`${env.srv.issuer}/account/security`);
      assert.equal(security.status, 200);
      // The only method has no Remove (the page says why); a forged removal is refused in words too.
      assert.doesNotMatch(security.html, /\/account\/security\/remove\//);
      const removeRefused = await b.follow(`${env.srv.issuer}/account/security/remove`, { body: new URLSearchParams({ ...findForm(security.html, '/method').hidden, method: (await env.srv.app.sspr.methodRepo.listVerified(u.id))[0].id }).toString() });
      assert.deepEqual(messageIds(removeRefused.html), ['registration:errors.below_required']);

      // Sign-out: the question, then the signed-out page.
      const endSession = client.buildEndSessionUrl(env.rp.config, { id_token_hint: tokens.id_token!, ui_locales: lang });
      const question = await b.get(endSession.toString());
      assert.match(question.html, /name="logout" value="yes"/);
      const out = await b.submit(question, { logout: 'yes' });
      assert.equal(out.status, 200, `${out.url}\n${out.html.slice(0, 400)}`);

      // Forgot password from the sign-in page of a new request: mismatching passwords, then back at sign-in.
      const again = await env.rp.start(b, ask);
      const identifier = await b.get(new URL(link(again.page.html, 'forgot-password'), env.srv.issuer).toString());
      const empty = await b.submit(identifier, { [inputByAutocomplete(identifier.html, 'username')]: '' });
      assert.deepEqual(messageIds(empty.html), ['errors:sspr.identifier_required']);
      const method = await b.submit(empty, { [inputByAutocomplete(empty.html, 'username')]: u.login });
      const resetTarget = await b.submit(method, { method: 'email' });
      since = env.smtp.received.length;
      const resetCode = await b.submit(resetTarget, { target: u.email! });
      assert.match(resetCode.html, /id="helpdesk"/);
      const reset = await codeMail(env, u.email!, since);
      const passwordPage = await b.submit(resetCode, { code: reset.code });
      assert.match(passwordPage.url, /\/reset\/password$/);
      const [first, second] = newPasswordFields(passwordPage);
      const mismatch = await b.submit(passwordPage, { [first]: 'orchid tractor lantern 47', [second]: 'orchid tractor lantern 48' });
      assert.deepEqual(messageIds(mismatch.html), ['errors:sspr.password.mismatch']);
      const signInAgain = await b.submit(mismatch, { [first]: 'orchid tractor lantern 47', [second]: 'orchid tractor lantern 47' });
      assert.deepEqual(messageIds(signInAgain.html), ['reset:done.sign_in']);

      // The stand-alone reset (language from the browser) ends on its own page; a forged form and a lost interaction are error pages.
      const alone = new RecordingBrowser();
      alone.acceptLanguage = lang;
      const aloneStart = await alone.get(`${env.srv.issuer}/reset`);
      const aloneMethod = await alone.submit(aloneStart, { login: u.login });
      const totpCode = await alone.submit(aloneMethod, { method: 'totp' });
      assert.match(totpCode.url, /\/reset\/code$/);
      const other = await alone.get(new URL(link(totpCode.html, 'other-method'), env.srv.issuer).toString());
      const aloneTarget = await alone.submit(other, { method: 'email' });
      since = env.smtp.received.length;
      const aloneCode = await alone.submit(aloneTarget, { target: u.email! });
      const aloneMail = await codeMail(env, u.email!, since);
      const alonePassword = await alone.submit(aloneCode, { code: aloneMail.code });
      const [a1, a2] = newPasswordFields(alonePassword);
      const done = await alone.submit(alonePassword, { [a1]: 'heron quartz mosaic 1234', [a2]: 'heron quartz mosaic 1234' });
      assert.match(done.url, /\/reset\/done$/);
      await alone.get(`${env.srv.issuer}/reset`);
      const forged = await alone.request(`${env.srv.issuer}/reset`, { body: 'csrf=forged&login=x' });
      assert.equal(forged.status, 403);
      const expired = await alone.get(`${env.srv.issuer}/interaction/no-such-interaction`);
      assert.ok(expired.status >= 400);

      const pages = [...b.pages, ...alone.pages];
      for (const page of pages) assertPageIn(page, lang);
      const views = new Set(pages.map((p) => new URL(p.url).pathname.replace(/\/interaction\/[\w-]+/, '/interaction/X')));
      assert.ok(views.size >= 15, `pages seen: ${[...views].join(', ')}`);

      // Every mail this user got: codes and notices, all in the page language.
      await waitFor(() => env.smtp.received.slice(mailsBefore).filter((m) => m.to.includes(u.email!) && !new RegExp(CODE_RUN.source).test(m.text)).length >= 2);
      const mails = env.smtp.received.slice(mailsBefore).filter((m) => m.to.includes(u.email!));
      assert.ok(mails.length >= 5, `${mails.length} mails`);
      for (const mail of mails) assertMailIn(mail, lang);
    });
  }

  for (const lang of ['en', 'nl'] as const) {
    it(`${lang}: the "are these still right?" page`, async () => {
      const u = await user(lang);
      await env.srv.app.sspr.methodRepo.saveVerified({ accountId: u.id, type: 'email', target: u.email! });
      await env.srv.app.sspr.methodRepo.setConfirmedAt(u.id, new Date(env.srv.app.clock.now().getTime() - 400 * 86_400_000));
      const b = new RecordingBrowser();
      const { page } = await env.rp.start(b, { ui_locales: lang });
      const reconfirm = await signIn(b, page, u.login, u.password);
      assert.match(reconfirm.html, /\/reconfirm"/);
      for (const p of b.pages) assertPageIn(p, lang);
    });
  }
});
