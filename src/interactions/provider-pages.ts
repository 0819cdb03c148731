import type { KoaContextWithOIDC } from 'oidc-provider';
import type { ProviderPages } from '../provider/index.ts';
import { renderPage, language, type PageKit } from './kit.ts';

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
      renderPage(ctx, kit, 'error', {
        titleKey: 'pages:error.title',
        status,
        code,
        messageId: `errors:oidc.${messageKey}`,
      });
    },
    async logoutSource(ctx, form) {
      language(ctx, kit, uiLocales(ctx));
      renderPage(ctx, kit, 'logout', { titleKey: 'pages:logout.title', form });
    },
    async postLogoutSuccessSource(ctx) {
      language(ctx, kit, uiLocales(ctx));
      const client = ctx.oidc.client?.clientName ?? ctx.oidc.client?.clientId;
      renderPage(ctx, kit, 'logged-out', { titleKey: 'pages:logged_out.title', client });
    },
  };
}
