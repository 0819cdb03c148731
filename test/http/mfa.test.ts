import assert from 'node:assert/strict';
import { Browser, inputByAutocomplete, messageIds } from '../support/browser.ts';
import { postgresAvailable } from '../support/db.ts';
import { seedUser } from '../support/users.ts';
import { ACR_MFA, ACR_PASSWORD } from '../../src/sspr/mfa-policy.ts';
import {
  addMethod, assertSecondStep, chooseFactor, mailedCode, passwordStep, startMfaEnv, tokensFrom, totpNow, typeCode, type MfaEnv,
} from '../support/mfa.ts';

for (const kind of ['sqlite', 'postgres'] as const) {
  describe(`MFA at sign-in (openid-client, ${kind})`, function () {
    before(async function () {
      if (kind === 'postgres' && !(await postgresAvailable())) {
        console.log('    PostgreSQL not reachable; skipped');
        this.skip();
      }
    });

    describe('required_for: all', () => {
      let env: MfaEnv;
      before(async () => { env = await startMfaEnv(kind, { mfa: { required_for: 'all', remember_days: 30 }, sspr: { enabled_for: 'none' } }); });
      after(() => env?.close());

      it('password + authenticator code: the ID token carries amr ["pwd","otp","mfa"] and the MFA acr', async () => {
        const user = await seedUser(env.app, { login: 'alice' });
        const secret = (await addMethod(env.app, user.id, 'totp'))!;
        const browser = new Browser();
        const { landed, verifier, state } = await passwordStep(env, browser, user);
        assertSecondStep(landed);
        const codePage = await chooseFactor(browser, landed, 'totp');
        assertSecondStep(codePage, '/totp');
        assert.match(codePage.html, /autocomplete="one-time-code" inputmode="numeric"/);
        const claims = await tokensFrom(env, browser, await typeCode(browser, codePage, await totpNow(env, secret)), verifier, state);
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(claims.acr, ACR_MFA);
        const activities = (await env.app.audit.query({ targetAccountId: user.id })).map((e) => e.activity);
        assert.ok(activities.includes('auth.mfa.succeeded'));
      });

      it('an email code serves as the second factor; a wrong one is refused beside its field', async () => {
        const user = await seedUser(env.app, { login: 'bea' });
        await addMethod(env.app, user.id, 'email', 'bea@example.org');
        const browser = new Browser();
        const { landed, verifier, state } = await passwordStep(env, browser, user);
        assertSecondStep(landed);
        assert.match(landed.html, /b•••@example\.org/);
        const before = env.smtp.received.filter((m) => m.to.includes('bea@example.org')).length;
        const codePage = await chooseFactor(browser, landed, 'email');
        const code = await mailedCode(env, 'bea@example.org', before);
        const wrongPage = await typeCode(browser, codePage, code === '000000' ? '111111' : '000000');
        assertSecondStep(wrongPage, '/email', 400);
        assert.deepEqual(messageIds(wrongPage.html), ['mfa:errors.code_invalid']);
        assert.match(wrongPage.html, /aria-invalid="true" aria-describedby="code-error"/);
        const claims = await tokensFrom(env, browser, await typeCode(browser, wrongPage, code), verifier, state);
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
      });

      it('a user with no eligible method is sent to registration first, inside the same interaction, then gives the second factor', async () => {
        const user = await seedUser(env.app, { login: 'cas' });
        const browser = new Browser();
        const { landed, verifier, state } = await passwordStep(env, browser, user);
        assert.equal(landed.status, 200);
        assert.match(landed.url, /\/interaction\/[^/]+\/register$/, `expected registration, got ${landed.url}`);
        assert.ok(messageIds(landed.html).includes('mfa:register.intro'));
        assert.doesNotMatch(landed.html, /\/skip"/, 'no "Not now" when a second factor is missing');
        const totpPage = await browser.submit(landed, { method: 'totp' }, { actionPart: '/method' });
        const secret = /id="totp-secret">([\s\S]*?)<\/code>/.exec(totpPage.html)![1].replace(/<[^>]+>/g, '');
        const verified = await browser.submit(totpPage, { [inputByAutocomplete(totpPage.html, 'one-time-code')]: await totpNow(env, secret) }, { actionPart: '/verify' });
        const second = await browser.submit(verified, {}, { actionPart: '/finish' });
        assertSecondStep(second);
        const codePage = await chooseFactor(browser, second, 'totp');
        env.clock.advance('30s');
        const claims = await tokensFrom(env, browser, await typeCode(browser, codePage, await totpNow(env, secret)), verifier, state);
        assert.equal(claims.acr, ACR_MFA);
      });

      it('"remember this browser" skips the second factor until a reset ends it', async () => {
        const user = await seedUser(env.app, { login: 'dirk' });
        const secret = (await addMethod(env.app, user.id, 'totp'))!;
        const browser = new Browser();
        const first = await passwordStep(env, browser, user);
        const codePage = await chooseFactor(browser, first.landed, 'totp');
        assert.match(codePage.html, /<input type="checkbox" id="remember" name="remember" value="yes"> Remember this browser for 30 days/);
        await tokensFrom(env, browser, await typeCode(browser, codePage, await totpNow(env, secret), true), first.verifier, first.state);

        // A normal sign-out (the session cookie gone): the password again, the second factor not.
        browser.cookies = browser.cookies.filter((c) => c.name !== '_session');
        const second = await passwordStep(env, browser, user);
        const claims = await tokensFrom(env, browser, second.landed, second.verifier, second.state);
        assert.equal(claims.acr, ACR_MFA);
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);

        // A credential event (what a reset does) ends it.
        await env.app.directory.revokeEverything(user.id);
        browser.cookies = browser.cookies.filter((c) => c.name !== '_session');
        const third = await passwordStep(env, browser, user);
        assertSecondStep(third.landed);
      });
    });

    describe('required_for: none', () => {
      let env: MfaEnv;
      before(async () => { env = await startMfaEnv(kind, { mfa: { required_for: 'none' }, sspr: { enabled_for: 'none' } }); });
      after(() => env?.close());

      it('discovery lists the password level, then the MFA level', async () => {
        const meta = env.rp.config.serverMetadata();
        assert.deepEqual(meta.acr_values_supported, [ACR_PASSWORD, ACR_MFA]);
      });

      it('a password sign-in gets amr ["pwd"] and the password acr; acr_values for MFA then steps the session up without the password', async () => {
        const user = await seedUser(env.app, { login: 'eva' });
        const secret = (await addMethod(env.app, user.id, 'totp'))!;
        const browser = new Browser();
        const first = await passwordStep(env, browser, user);
        const plain = await tokensFrom(env, browser, first.landed, first.verifier, first.state);
        assert.deepEqual(plain.amr, ['pwd']);
        assert.equal(plain.acr, ACR_PASSWORD);

        const { page, verifier, state } = await env.rp.start(browser, { acr_values: ACR_MFA });
        assertSecondStep(page);
        assert.doesNotMatch(page.html, /autocomplete="current-password"/, 'no password asked again');
        const codePage = await chooseFactor(browser, page, 'totp');
        env.clock.advance('30s');
        const claims = await tokensFrom(env, browser, await typeCode(browser, codePage, await totpNow(env, secret)), verifier, state);
        assert.deepEqual(claims.amr, ['pwd', 'otp', 'mfa']);
        assert.equal(claims.acr, ACR_MFA);
        assert.equal(claims.auth_time, plain.auth_time, 'auth_time stays the password\'s');
      });

      it('an essential acr claim steps up too; max_age past the password asks both factors again', async () => {
        const user = await seedUser(env.app, { login: 'fien' });
        const secret = (await addMethod(env.app, user.id, 'totp'))!;
        const browser = new Browser();
        const first = await passwordStep(env, browser, user);
        await tokensFrom(env, browser, first.landed, first.verifier, first.state);
        const claimsParam = JSON.stringify({ id_token: { acr: { essential: true, value: ACR_MFA } } });
        const { page, verifier, state } = await env.rp.start(browser, { claims: claimsParam });
        assertSecondStep(page);
        const codePage = await chooseFactor(browser, page, 'totp');
        env.clock.advance('30s');
        const stepped = await tokensFrom(env, browser, await typeCode(browser, codePage, await totpNow(env, secret)), verifier, state);
        assert.equal(stepped.acr, ACR_MFA);

        // The provider's own clock decides max_age (auth_time is the password's, wall clock).
        await new Promise((r) => setTimeout(r, 1100));
        const again = await env.rp.start(browser, { acr_values: ACR_MFA, max_age: '0' });
        assert.match(again.page.html, /autocomplete="current-password"/, 'max_age: the password first');
      });
    });
  });
}
