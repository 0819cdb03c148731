import type Provider from 'oidc-provider';
import type { Language, Translate } from '../i18n/index.ts';
import { lazy } from '../lazy.ts';
import { ACCOUNT_CLIENT_ID } from '../provider/index.ts';
import type { DirectorySession } from '../sspr/ports.ts';

/** Parsed only when /account/security lists sessions (bowser, MIT): sign-ins never load it. */
const bowser = lazy<typeof import('bowser')>('bowser');

/** One line of "Where you are signed in", in words: no ids. */
export interface ShownSession {
  id: string;
  current: boolean;
  /** "Chrome 131 on Windows 10"-style parts; null when the User-Agent says nothing recognisable. */
  browser: string | null;
  os: string | null;
  signedInAt: Date | null;
  /** The coarse network (`192.0.2.x`), when recorded. */
  network: string | null;
  /** The apps' names (`client_name`), our own account page by its localised name. */
  apps: string[];
}

function major(version: string | undefined): string {
  return version ? version.split('.')[0] ?? '' : '';
}

/** Browser and OS from a User-Agent, e.g. `{ browser: 'Chrome 131', os: 'Windows 10' }`. */
export function describeUserAgent(ua: string | null | undefined): { browser: string | null; os: string | null } {
  if (!ua) return { browser: null, os: null };
  const parsed = bowser().parse(ua);
  const browser = parsed.browser.name ? `${parsed.browser.name} ${major(parsed.browser.version)}`.trim() : null;
  const os = parsed.os.name ? `${parsed.os.name} ${parsed.os.versionName ?? parsed.os.version ?? ''}`.trim() : null;
  return { browser, os };
}

/** The sessions with app names, browser and OS: what the page shows. */
export async function presentSessions(provider: Provider, sessions: readonly DirectorySession[], currentId: string | null, t: Translate): Promise<ShownSession[]> {
  const names = new Map<string, string>();
  for (const id of new Set(sessions.flatMap((s) => s.clients))) {
    if (id === ACCOUNT_CLIENT_ID) {
      names.set(id, t('registration:security.account_app'));
      continue;
    }
    const client = await provider.Client.find(id).catch(() => undefined);
    names.set(id, client?.clientName ?? id);
  }
  return sessions.map((s) => ({
    id: s.id,
    current: s.id === currentId,
    ...describeUserAgent(s.userAgent),
    signedInAt: s.signedInAt,
    network: s.network ?? null,
    apps: s.clients.map((c) => names.get(c) ?? c),
  }));
}

/** A date and time in the page's language and the configured zone (empty: the server's). */
export function formatDate(d: Date | null, lang: Language, timeZone: string, withTime = false): string {
  if (!d) return '';
  return new Intl.DateTimeFormat(lang === 'nl' ? 'nl-NL' : 'en-GB', {
    dateStyle: 'long',
    ...(withTime ? { timeStyle: 'short' } : {}),
    ...(timeZone ? { timeZone } : {}),
  }).format(d);
}
