import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC, type ClientMetadata, type JWK } from 'oidc-provider';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { AccountRow, Store } from '../store/index.ts';
import type { TokenAccountRow } from '../store/account-row.ts';
import type { SequelizeDirectory } from '../store/account-directory.ts';
import { createSequelizeAdapter, takeAccountReadWithToken } from './adapter.ts';
import { claimsFor } from './claims.ts';
import { cookieNamesFor } from './cookie-names.ts';
import { CookieKeys } from './cookie-keys.ts';
import { admitsAccount, carryCredentialsEpoch, epochOf, grantIsCurrent, stampEpoch } from './credentials-epoch.ts';
import { shareAccountWithPrompt } from './registration-prompt.ts';
import { carrySessionDevice } from './session-device.ts';
import { ACR_VALUES } from '../sspr/mfa-policy.ts';

export type { Provider };

/** oidc-provider options that render its own pages in oidc-sspr's look and languages. */
export interface ProviderPages {
  /** oidc-provider's `renderError`: a friendly error page with a stable code. */
  renderError: NonNullable<Configuration['renderError']>;
  /** oidc-provider's `features.rpInitiatedLogout.logoutSource`: the "sign out?" question. */
  logoutSource: (ctx: KoaContextWithOIDC, form: string) => Promise<void>;
  /** oidc-provider's `features.rpInitiatedLogout.postLogoutSuccessSource`: "you are signed out". */
  postLogoutSuccessSource: (ctx: KoaContextWithOIDC) => Promise<void>;
}

export interface ProviderOptions {
  config: Config;
  store: Store;
  directory: SequelizeDirectory;
  clock: Clock;
  jwks: { keys: JWK[] };
  pages: ProviderPages;
  /** Prompts to add after login and before consent (our registration prompt). */
  extraPrompts?: interactionPolicy.Prompt[];
  /**
   * On SQLite, how many login pages, and how many authorization codes, are kept in memory before the
   * oldest go to the database (src/provider/sign-in-memory.ts); 0 keeps them all in the database.
   */
  signInsInMemory?: number;
}

/** Sign-ins in progress kept in memory on SQLite, of each kind: ≈ 1–2 KB each, a few MB at most. */
export const SIGN_INS_IN_MEMORY = 5000;

/** Removes the login prompt's checks that would ask the password again for an essential `acr`. */
export function withoutAcrLoginChecks(policy: interactionPolicy.Prompt[] & { get(name: string): interactionPolicy.Prompt | undefined }): void {
  const login = policy.get('login');
  const checks = login?.checks as unknown as { remove(reason: string): void } | undefined;
  checks?.remove('essential_acrs');
  checks?.remove('essential_acr');
}

/** Our own account pages sign users in through the provider like any app (see src/account-console.ts). */
export const ACCOUNT_CLIENT_ID = 'oidc-sspr-account';

function accountClient(config: Config): ClientMetadata {
  return {
    client_id: ACCOUNT_CLIENT_ID,
    token_endpoint_auth_method: 'none',
    redirect_uris: [`${config.issuer}/account/callback`],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    // What people read where the app is named (the sessions list, the sign-in page).
    client_name: 'Security info',
  };
}

function clientMetadata(config: Config): ClientMetadata[] {
  return [...configuredClients(config), accountClient(config)];
}

function configuredClients(config: Config): ClientMetadata[] {
  return config.clients.map((c) => ({
    client_id: c.client_id,
    ...(c.client_secret ? { client_secret: c.client_secret } : {}),
    token_endpoint_auth_method: c.token_endpoint_auth_method ?? (c.client_secret ? 'client_secret_basic' : 'none'),
    redirect_uris: c.redirect_uris,
    post_logout_redirect_uris: c.post_logout_redirect_uris,
    grant_types: c.grant_types,
    response_types: c.response_types,
    ...(c.client_name ? { client_name: c.client_name } : {}),
    ...(c.logo_uri ? { logo_uri: c.logo_uri } : {}),
    ...(c.client_uri ? { client_uri: c.client_uri } : {}),
  }));
}

/** Builds the oidc-provider instance: our adapter, keys, accounts, pages and interaction policy. */
export function createProvider(options: ProviderOptions): Provider {
  const { config, store, directory, clock, jwks, pages } = options;
  const firstParty = new Set([...config.clients.filter((c) => c.first_party).map((c) => c.client_id), ACCOUNT_CLIENT_ID]);

  const policy = interactionPolicy.base();
  // An app's essential `acr` is met by the `mfa` prompt (src/provider/mfa-prompt.ts): a session signed
  // in with the password is asked for the second factor alone, never for the password again.
  withoutAcrLoginChecks(policy);
  (options.extraPrompts ?? []).forEach((prompt, i) => policy.add(prompt, 1 + i));

  /** The token endpoints read the account together with the token (the adapter's statement), else here. */
  const accountRowForToken = (sub: string): TokenAccountRow | null | Promise<AccountRow | null> => {
    const readWithToken = takeAccountReadWithToken(sub);
    return readWithToken !== undefined ? readWithToken : directory.findRow(sub);
  };

  const cookieNames = cookieNamesFor(config.issuer);
  const configuration: Configuration = {
    adapter: createSequelizeAdapter(store, clock, { signInsInMemory: options.signInsInMemory ?? SIGN_INS_IN_MEMORY }),
    clients: clientMetadata(config),
    jwks,
    cookies: {
      names: { session: cookieNames.session, interaction: cookieNames.interaction, resume: cookieNames.resume },
      keys: config.secrets.cookie_keys,
      long: { httpOnly: true, sameSite: 'lax' },
      short: { httpOnly: true, sameSite: 'lax' },
    },
    claims: {
      // Every ID token says how and when the user signed in (RFC 8176 `amr`, `acr`), asked for or not:
      // oidc-provider includes a claim only when a scope lists it or the request names it.
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name', 'preferred_username', 'updated_at'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
    },
    scopes: ['openid', 'offline_access', 'profile', 'email', 'phone'],
    // The password alone, then a second factor (README "Authentication levels").
    acrValues: [...ACR_VALUES],
    // The credentials epoch rides on this read, which every use of a session or token makes anyway.
    async findAccount(ctx, sub, token) {
      // With a token (userinfo, refresh, code exchange) no prompt runs: the row alone, no group names.
      const found = token ? { row: await accountRowForToken(sub), account: null } : await directory.findRowAndAccount(sub);
      const row = found?.row;
      if (!row || row.disabled) return undefined;
      const epoch = row.credentialsEpoch;
      if (!admitsAccount(ctx, sub, epoch, token)) return undefined;
      // The register prompt's checks in this request need the same account: no second read.
      if (found?.account) shareAccountWithPrompt(ctx, found.account);
      return {
        accountId: row.id,
        async claims() {
          // Userinfo loads the access token's grant only after the account: check it here, once it is there.
          if (token && grantIsCurrent(ctx, epoch) === false) throw new errors.InvalidToken('credentials changed since the grant');
          return claimsFor(row);
        },
      };
    },
    features: {
      devInteractions: { enabled: false },
      // Apps ask for the MFA level with an essential `acr` claim as well as with acr_values.
      claimsParameter: { enabled: true },
      revocation: { enabled: true },
      userinfo: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: pages.logoutSource,
        postLogoutSuccessSource: pages.postLogoutSuccessSource,
      },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `/interaction/${interaction.uid}`,
    },
    renderError: pages.renderError,
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 86_400,
      Grant: 14 * 86_400,
      Interaction: config.sessions.interaction_minutes * 60,
      Session: config.sessions.ttl_hours * 3600,
      BackchannelAuthenticationRequest: 600,
      ClientCredentials: 600,
      DeviceCode: 600,
    },
    // Refresh tokens for clients allowed the grant when offline_access was asked for, consent or not.
    async issueRefreshToken(_ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    // First-party clients skip the consent page: their grant is created here with what they asked for.
    async loadExistingGrant(ctx) {
      const grantId = (ctx.oidc.result?.consent as { grantId?: string } | undefined)?.grantId
        ?? ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      // findAccount admitted the session just before, so its stamp is the account's current epoch.
      const epoch = epochOf(ctx.oidc.session);
      if (grantId) {
        const existing = await ctx.oidc.provider.Grant.find(grantId);
        // A grant from before a credential event (one a racing request wrote back) is never reused.
        if (existing && epochOf(existing) === epoch) return existing;
      }
      if (!firstParty.has(ctx.oidc.client!.clientId)) return undefined;
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      stampEpoch(grant, epoch);
      grant.addOIDCScope([...ctx.oidc.requestParamScopes].join(' '));
      const claims = ctx.oidc.requestParamClaims ? [...ctx.oidc.requestParamClaims] : [];
      if (claims.length) grant.addOIDCClaims(claims);
      await grant.save();
      return grant;
    },
  };

  const provider = new Provider(config.issuer, configuration);
  carryCredentialsEpoch(provider);
  carrySessionDevice(provider);
  // Koa's `app.keys`: the same signatures as oidc-provider's keygrip, checked without its costly compare.
  if (config.secrets.cookie_keys.length > 0) provider.keys = new CookieKeys(config.secrets.cookie_keys);
  provider.proxy = config.proxy;
  // Koa reads X-Forwarded-For from the left, where the client writes whatever it likes. Keeping only
  // the last `proxy_hops` entries leaves the address our own outermost proxy saw first in line, so a
  // forged header can neither reset the per-IP throttles nor lie in the audit log.
  provider.maxIpsCount = config.proxy_hops;
  return provider;
}
