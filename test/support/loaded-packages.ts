/**
 * Run as a child process (`node --conditions=source test/support/loaded-packages.ts`): a test server
 * with passkey sign-in offered, one password sign-in, then one passkey options request; prints, as JSON
 * lines, which npm packages the process had loaded after each. A parent test reads them, so what a
 * password sign-in loads is seen in a process of its own (the test runner's has loaded everything).
 */
import { recordLoadedPackages } from './package-recorder.ts';

const loaded = recordLoadedPackages();

const { createSqliteDatabase } = await import('./db.ts');
const { startTestServer } = await import('./server.ts');
const { seedUser } = await import('./users.ts');
const { relyingParty, consentIfAsked } = await import('./oidc.ts');
const { Browser, findForm } = await import('./browser.ts');

const db = createSqliteDatabase();
const srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none', methods: ['email', 'passkey'] } } });
try {
  const user = await seedUser(srv.app, { login: 'lazy-user' });
  const rp = await relyingParty(srv.issuer);
  const b = new Browser();
  const { page } = await rp.start(b);
  const done = await consentIfAsked(b, await b.submit(page, { login: user.login, password: user.password }, { actionPart: '/login' }));
  if (!done.redirectedTo) throw new Error(`the password sign-in did not finish: ${done.url}`);
  console.log(JSON.stringify({ after: 'password sign-in', packages: [...loaded].sort() }));

  const b2 = new Browser();
  const second = await rp.start(b2);
  const form = findForm(second.page.html, '/login');
  const uid = new URL(form.action, second.page.url).pathname.split('/')[2]!;
  const options = await b2.request(`${srv.issuer}/interaction/${uid}/passkey/options`, { body: new URLSearchParams({ csrf: form.hidden.csrf ?? '' }).toString() });
  console.log(JSON.stringify({ after: 'passkey options', status: options.status, packages: [...loaded].sort() }));
} finally {
  await srv.close();
  await db.drop();
}
