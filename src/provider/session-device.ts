import { isIPv4, isIPv6 } from 'node:net';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

/**
 * What `/account/security` shows of a session besides its time: the browser (its User-Agent) and a
 * coarse place (the network it signed in from). Recorded when a sign-in is saved, in the session's own
 * payload — the way the credentials epoch rides along (credentials-epoch.ts) — so it needs no table,
 * no migration, and ends with the session.
 *
 * Only the coarse address is stored (IPv4 /24, IPv6 /48): enough for "this was my office", too little
 * to locate a person, and nothing a user could not be shown. The User-Agent is cut at 300 characters.
 */
export const DEVICE_FIELD = 'device';

export interface SessionDevice {
  /** The User-Agent header of the sign-in, cut short; '' when none was sent. */
  ua: string;
  /** `192.0.2.x` or `2001:db8:1::/48`; null when the address was not an IP. */
  net: string | null;
  /** The `loginTs` it belongs to: a new sign-in in the same session records again. */
  at: number;
}

/** IPv4 keeps its /24 (`192.0.2.x`), IPv6 its /48 (`2001:db8:1::/48`); IPv4-mapped IPv6 counts as IPv4. */
export function coarseIp(ip: string | null | undefined): string | null {
  if (!ip) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const v4 = mapped ? mapped[1] : ip;
  if (isIPv4(v4)) return `${v4.split('.').slice(0, 3).join('.')}.x`;
  if (!isIPv6(ip)) return null;
  // Expand "::" so the first three groups are really the first three.
  const [head, tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
  const groups = ip.includes('::') ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right] : left;
  const prefix = groups.slice(0, 3).map((g) => g.replace(/^0+(?=.)/, '').toLowerCase());
  return `${prefix.join(':')}::/48`;
}

export function deviceOf(session: object | null | undefined): SessionDevice | null {
  const d = session ? (session as Record<string, unknown>)[DEVICE_FIELD] : undefined;
  if (!d || typeof d !== 'object') return null;
  const { ua, net, at } = d as Partial<SessionDevice>;
  return typeof ua === 'string' && typeof at === 'number' ? { ua, net: typeof net === 'string' ? net : null, at } : null;
}

interface SessionModel {
  IN_PAYLOAD: string[];
  prototype: { save(this: Record<string, unknown>, ttl?: number): Promise<unknown> };
}

/**
 * Lets sessions carry their device, and records it when a signed-in session is saved with a login
 * it has not recorded yet (the resume after a sign-in; a second sign-in in the same browser). The
 * request is oidc-provider's own (`Provider.ctx`, its AsyncLocalStorage), so no login route changes.
 * Call once, right after `new Provider(...)`.
 */
export function carrySessionDevice(provider: Provider): void {
  // A class with a static IN_PAYLOAD getter and an instance save(); the typings declare neither.
  const model = provider.Session as unknown as SessionModel;
  const listed = model.IN_PAYLOAD;
  if (!Array.isArray(listed)) throw new Error('oidc-provider models no longer list IN_PAYLOAD: session devices cannot be stored');
  if (listed.includes(DEVICE_FIELD)) return;
  const withDevice = [...listed, DEVICE_FIELD];
  Object.defineProperty(model, 'IN_PAYLOAD', { configurable: true, get: () => withDevice });
  // oidc-provider's request context is a static of its class, read through the instance: importing the
  // class here would load all of oidc-provider (and Koa) into every user of this file's helpers — the
  // store, and through it the admin CLI, which never serves a request.
  const providerClass = provider.constructor as unknown as { readonly ctx: KoaContextWithOIDC | undefined };
  const save = model.prototype.save;
  model.prototype.save = function saveWithDevice(ttl) {
    const ctx = providerClass.ctx;
    const loginTs = this.loginTs;
    if (ctx && typeof this.accountId === 'string' && typeof loginTs === 'number' && deviceOf(this)?.at !== loginTs) {
      const device: SessionDevice = { ua: (ctx.get('user-agent') ?? '').slice(0, 300), net: coarseIp(ctx.ip), at: loginTs };
      this[DEVICE_FIELD] = device;
    }
    return save.call(this, ttl);
  };
}
