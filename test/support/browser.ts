/**
 * A minimal browser for HTTP tests: a cookie jar with path matching, manual redirects, and form
 * helpers that find fields the way a user or a password manager would (by autocomplete and label).
 */
interface Cookie { name: string; value: string; path: string; origin: string }

export interface Page { url: string; status: number; html: string; headers: Headers }

export class Browser {
  cookies: Cookie[] = [];
  history: string[] = [];
  acceptLanguage = 'en';
  userAgent = 'oidc-sspr-test-browser';

  private cookieHeader(url: URL): string {
    return this.cookies
      .filter((c) => c.origin === url.origin && (url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/'))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ');
  }

  private storeCookies(url: URL, headers: Headers): void {
    for (const line of headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      let path = '/';
      let expired = false;
      for (const a of attrs) {
        const [k, v] = a.split('=');
        if (k.toLowerCase() === 'path' && v) path = v;
        if (k.toLowerCase() === 'expires' && v && new Date(v).getTime() < Date.now()) expired = true;
        if (k.toLowerCase() === 'max-age' && Number(v) <= 0) expired = true;
      }
      this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path && c.origin === url.origin));
      if (!expired && value !== '') this.cookies.push({ name, value, path, origin: url.origin });
    }
  }

  /** One request, no redirect following. */
  async request(url: string, init: { method?: string; body?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Page> {
    const u = new URL(url);
    const headers: Record<string, string> = { 'accept-language': this.acceptLanguage, 'user-agent': this.userAgent, ...(init.headers ?? {}) };
    const cookie = this.cookieHeader(u);
    if (cookie) headers.cookie = cookie;
    if (init.body !== undefined) headers['content-type'] = init.contentType ?? 'application/x-www-form-urlencoded';
    const res = await fetch(u, { method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'), headers, body: init.body, redirect: 'manual' });
    this.storeCookies(u, res.headers);
    this.history.push(`${init.method ?? (init.body !== undefined ? 'POST' : 'GET')} ${u.pathname}${u.search} ${res.status}`);
    return { url: u.toString(), status: res.status, html: await res.text(), headers: res.headers };
  }

  /**
   * Follows redirects while they stay on `origin`; stops at a redirect elsewhere (the client's
   * callback) and returns it as `redirectedTo`.
   */
  async follow(url: string, init: Parameters<Browser['request']>[1] = {}, origin = new URL(url).origin): Promise<Page & { redirectedTo?: string }> {
    let page = await this.request(url, init);
    for (let i = 0; i < 20 && page.status >= 300 && page.status < 400; i++) {
      const next = new URL(page.headers.get('location')!, page.url).toString();
      if (new URL(next).origin !== origin) return { ...page, redirectedTo: next };
      page = await this.request(next);
    }
    return page;
  }

  async get(url: string, origin?: string) {
    return this.follow(url, {}, origin);
  }

  /** Posts a form of `page` (the first form with a submit button, or the one whose action contains `actionPart`). */
  async submit(page: Page, values: Record<string, string>, opts: { actionPart?: string; extra?: Record<string, string>; origin?: string } = {}) {
    const form = findForm(page.html, opts.actionPart);
    const fields = { ...form.hidden, ...values, ...(opts.extra ?? {}) };
    const action = new URL(form.action || page.url, page.url).toString();
    return this.follow(action, { body: new URLSearchParams(fields).toString() }, opts.origin ?? new URL(page.url).origin);
  }
}

export interface FoundForm { action: string; hidden: Record<string, string>; html: string }

export function findForm(html: string, actionPart?: string): FoundForm {
  const forms = [...html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/g)];
  const chosen = forms.find((m) => !actionPart || attr(m[1], 'action')?.includes(actionPart));
  if (!chosen) throw new Error(`no form${actionPart ? ` with action *${actionPart}*` : ''} in page:\n${html.slice(0, 2000)}`);
  const hidden: Record<string, string> = {};
  for (const m of chosen[2].matchAll(/<input\b([^>]*)>/g)) {
    if (attr(m[1], 'type') === 'hidden') hidden[attr(m[1], 'name') ?? ''] = decode(attr(m[1], 'value') ?? '');
  }
  return { action: decode(attr(chosen[1], 'action') ?? ''), hidden, html: chosen[2] };
}

function decode(s: string): string {
  return s.replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}

export function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\b${name}="([^"]*)"`).exec(tag);
  return m ? m[1] : undefined;
}

/** The `name` of the input with this autocomplete token (as a password manager finds it). */
export function inputByAutocomplete(html: string, token: string): string {
  for (const m of html.matchAll(/<input\b([^>]*)>/g)) {
    if (attr(m[1], 'autocomplete') === token) return attr(m[1], 'name')!;
  }
  throw new Error(`no input with autocomplete="${token}" in:\n${html.slice(0, 1500)}`);
}

/** The text content of elements marked with data-message-id. */
export function messageIds(html: string): string[] {
  return [...html.matchAll(/data-message-id="([^"]+)"/g)].map((m) => m[1]);
}

export function link(html: string, textOrId: string): string {
  for (const m of html.matchAll(/<a\b([^>]*)>([\s\S]*?)<\/a>/g)) {
    if (m[2].trim() === textOrId || attr(m[1], 'id') === textOrId) return decode(attr(m[1], 'href')!);
  }
  throw new Error(`no link "${textOrId}"`);
}
