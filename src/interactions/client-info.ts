import type Provider from 'oidc-provider';

/** What a person reads about an app: its name, logo and home page (never only its client_id). */
export interface ClientInfo {
  id: string;
  name: string;
  logoUri?: string;
  homeUrl?: string;
}

const httpUrl = (v: unknown): string | undefined => {
  if (typeof v !== 'string') return undefined;
  try {
    const u = new URL(v);
    return u.protocol === 'https:' || u.protocol === 'http:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
};

/**
 * The client's registered metadata (`client_name`, `logo_uri`, `client_uri`), read from the provider so
 * an embedding host's own clients work too. Without a name the id is all there is.
 */
export async function clientInfo(provider: Provider, clientId: unknown): Promise<ClientInfo | null> {
  if (typeof clientId !== 'string' || !clientId) return null;
  const client = await provider.Client.find(clientId).catch(() => undefined);
  const meta = (client?.metadata() ?? {}) as Record<string, unknown>;
  const name = typeof meta.client_name === 'string' && meta.client_name.trim() ? meta.client_name.trim() : clientId;
  return { id: clientId, name, logoUri: httpUrl(meta.logo_uri), homeUrl: httpUrl(meta.client_uri) };
}

/** The origin of a client's logo, for the page's img-src (headers.ts); null when there is none. */
export function logoOrigin(info: ClientInfo | null): string | null {
  return info?.logoUri ? new URL(info.logoUri).origin : null;
}
