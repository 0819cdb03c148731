import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ProviderPages } from '../provider/index.ts';
import { renderPage, language, type PageKit } from './kit.ts';
import type { PageLink } from './errors.ts';

const httpUrl = (v: unknown): string | undefined => (typeof v === 'string' && /^https?:\/\//i.test(v) ? v : undefined);

/** The app a provider page is about (name and home page), when the request named one. */
function clientOf(ctx: KoaContextWithOIDC): { name: string; homeUrl?: string } | null {
  const client = ctx.oidc?.client;
  if (!client) return null;
  const meta = client.metadata() as Record<string, unknown>;
  const name = typeof meta.client_name === 'string' && meta.client_name ? meta.client_name : client.clientId;
  return { name, homeUrl: httpUrl(meta.client_uri) };
}

/** A way on from a provider page: back to the app's home page when it registered one. */
function waysOn(client: { name: string; homeUrl?: string } | null): PageLink[] {
  return client?.homeUrl ? [{ href: client.homeUrl, labelKey: 'pages:common.back_to_client', params: { client: client.name } }] : [];
}

/** oidc-provider's own pages (error, logout question, signed out) in our look and both languages. */
export function providerPages(kit: PageKit): ProviderPages {
  const uiLocales = (ctx: KoaContextWithOIDC) => {
    const params = ctx.oidc?.params as Record<string, unknown> | undefined;
    return params?.ui_locales;
  };
  return {
    async renderError(ctx, out, error) {
      kit.log.info({ err: { name: error.name, message: error.message }, out }, 'provider error page');
      language(ctx, kit, uiLocales(ctx));
      const code = String(out.error ?? 'server_error');
      const known = ['invalid_request', 'invalid_client', 'invalid_redirect_uri', 'session_not_found', 'access_denied', 'server_error'];
      const messageKey = error.name === 'SessionNotFound' ? 'session_not_found' : known.includes(code) ? code : 'invalid_request';
      const status = ctx.status >= 400 ? ctx.status : 400;
      const client = clientOf(ctx);
      renderPage(ctx, kit, 'error', {
        titleKey: 'pages:error.title',
        status,
        code,
        messageId: `errors:oidc.${messageKey}`,
        params: client ? { client: client.name } : {},
        links: waysOn(client),
        // After a POST the language links GET a page that answers GET: the logout question for the
        // logout endpoints, else the same address (oidc-provider's /auth takes both).
        ...(ctx.method === 'GET' ? {} : { getUrl: ctx.path.startsWith('/session/end') ? '/session/end' : ctx.path }),
      });
    },
    async logoutSource(ctx, form) {
      language(ctx, kit, uiLocales(ctx));
      const client = clientOf(ctx);
      renderPage(ctx, kit, 'logout', { titleKey: 'pages:logout.title', form, client: client?.name ?? null });
    },
    async postLogoutSuccessSource(ctx) {
      language(ctx, kit, uiLocales(ctx));
      const client = clientOf(ctx);
      renderPage(ctx, kit, 'logged-out', { titleKey: 'pages:logged_out.title', client: client?.name ?? null, links: waysOn(client) });
    },
  };
}
