import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { Browser, inputByAutocomplete, type Page } from './browser.ts';

export interface RelyingParty {
  config: client.Configuration;
  redirectUri: string;
  /** Starts an authorization request; returns the first page the browser lands on. */
  start(browser: Browser, extra?: Record<string, string>): Promise<{ page: Page & { redirectedTo?: string }; verifier: string; state: string }>;
  /** Exchanges the code from the callback URL the browser was sent to. */
  finish(callbackUrl: string, verifier: string, state: string): Promise<client.TokenEndpointResponse & client.TokenEndpointResponseHelpers>;
}

/** A certified relying party (openid-client) pointed at our issuer. */
export async function relyingParty(issuer: string, opts: { clientId?: string; clientSecret?: string; redirectUri?: string } = {}): Promise<RelyingParty> {
  const clientId = opts.clientId ?? 'test-app';
  const secret = opts.clientId === 'public-app' ? undefined : (opts.clientSecret ?? 'test-app-secret-0123456789');
  const config = await client.discovery(new URL(issuer), clientId, secret, secret ? undefined : client.None(), { execute: [client.allowInsecureRequests] });
  const redirectUri = opts.redirectUri ?? 'http://127.0.0.1:1/cb';
  return {
    config,
    redirectUri,
    async start(browser, extra = {}) {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid profile email phone offline_access',
        prompt: 'consent',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        ...extra,
      });
      const page = await browser.get(url.toString());
      return { page, verifier, state };
    },
    finish(callbackUrl, verifier, state) {
      return client.authorizationCodeGrant(config, new URL(callbackUrl), { pkceCodeVerifier: verifier, expectedState: state });
    },
  };
}

/** Fills the sign-in page as a password manager would (by autocomplete tokens). */
export async function signIn(browser: Browser, page: Page, login: string, password: string) {
  assert.equal(page.status, 200, `expected the sign-in page, got ${page.status}: ${page.html.slice(0, 500)}`);
  return browser.submit(page, {
    [inputByAutocomplete(page.html, 'username')]: login,
    [inputByAutocomplete(page.html, 'current-password')]: password,
  });
}

/** Clicks "Allow" when the consent page shows. */
export async function consentIfAsked(browser: Browser, page: Page & { redirectedTo?: string }) {
  if (page.redirectedTo || !page.url.includes('/interaction/')) return page;
  if (!/\/confirm"/.test(page.html)) return page;
  return browser.submit(page, {}, { actionPart: '/confirm' });
}
