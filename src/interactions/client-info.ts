import type Provider from 'oidc-provider';

/** What a person reads about an app: its name, logo and home page (never only its client_id). */
export interface ClientInfo {
  readonly id: string;
  readonly name: string;
  readonly logoUri?: string;
  readonly homeUrl?: string;
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
  if (!client) return infoOf(clientId, {});
  // Keyed on the client object the provider returns: a static client is the same object on every
  // page (metadata() copies every property, and the URLs are parsed again), a changed one a new one.
  let info = infoByClient.get(client);
  if (!info) infoByClient.set(client, (info = infoOf(clientId, client.metadata() as Record<string, unknown>)));
  return info;
}

const infoByClient = new WeakMap<object, ClientInfo>();

function infoOf(clientId: string, meta: Record<string, unknown>): ClientInfo {
  const name = typeof meta.client_name === 'string' && meta.client_name.trim() ? meta.client_name.trim() : clientId;
  return { id: clientId, name, logoUri: httpUrl(meta.logo_uri), homeUrl: httpUrl(meta.client_uri) };
}

/** The origin of a client's logo, for the page's img-src (headers.ts); null when there is none. */
export function logoOrigin(info: ClientInfo | null): string | null {
  return info?.logoUri ? new URL(info.logoUri).origin : null;
}
