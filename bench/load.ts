/**
 * The load generator: a lean HTTP/1.1 client (node:http with keep-alive, no fetch/undici: it shares
 * the machine's cores with the servers, so its own cost must stay low), a cookie jar per simulated
 * browser, the authorization code + PKCE flow, userinfo and refresh calls, and a closed-loop runner
 * (C loops, each starting its next operation when the previous one ends).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

export interface Response { status: number; headers: http.IncomingHttpHeaders; body: string }

export function request(url: URL, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(init.headers ?? {}) };
    if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
    const req = http.request({
      agent,
      hostname: url.hostname,
      port: url.port,
      path: url.pathname + url.search,
      method: init.method ?? (init.body !== undefined ? 'POST' : 'GET'),
      headers,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Cookies by name: the provider's cookies have distinct names, so paths need not be matched. */
export class Jar {
  private cookies = new Map<string, string>();
  header(): string | undefined {
    if (this.cookies.size === 0) return undefined;
    let s = '';
    for (const [k, v] of this.cookies) s += `${s ? '; ' : ''}${k}=${v}`;
    return s;
  }
  store(setCookie: string[] | undefined): void {
    for (const line of setCookie ?? []) {
      const semi = line.indexOf(';');
      const pair = semi === -1 ? line : line.slice(0, semi);
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = /expires=Thu, 01 Jan 1970/i.test(line) || /max-age=0/i.test(line);
      if (!value || expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }
}

export interface Target {
  issuer: string;
  clientId: string;
  clientSecret: string;
  redirectUri: string;
}

export interface TokenSet { access_token: string; refresh_token?: string; id_token?: string }

const b64url = (b: Buffer) => b.toString('base64url');
const attr = (tag: string, name: string) => new RegExp(`\\b${name}="([^"]*)"`).exec(tag)?.[1];
const unescapeHtml = (s: string) => s.replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'");

/** The first form on the page: its action and hidden fields. */
export function firstForm(html: string): { action: string; fields: Record<string, string> } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/.exec(html);
  if (!form) throw new Error(`no form in page: ${html.slice(0, 300)}`);
  const fields: Record<string, string> = {};
  for (const m of form[2].matchAll(/<input\b([^>]*)>/g)) {
    if (attr(m[1], 'type') === 'hidden') fields[attr(m[1], 'name') ?? ''] = unescapeHtml(attr(m[1], 'value') ?? '');
  }
  return { action: unescapeHtml(attr(form[1], 'action') ?? ''), fields };
}

function basicAuth(t: Target): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(t.clientId)}:${encodeURIComponent(t.clientSecret)}`).toString('base64')}`;
}

async function tokenRequest(t: Target, params: Record<string, string>): Promise<TokenSet> {
  const res = await request(new URL('/token', t.issuer), {
    body: new URLSearchParams(params).toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuth(t), accept: 'application/json' },
  });
  if (res.status !== 200) throw new Error(`token endpoint answered ${res.status}: ${res.body.slice(0, 300)}`);
  const tokens = JSON.parse(res.body) as TokenSet;
  if (!tokens.access_token) throw new Error('no access_token');
  return tokens;
}

/**
 * One full sign-in as a browser and a relying party do it: GET /auth → (redirect) login page →
 * POST the form → (redirect) /auth/:uid → redirect to the client with a code → token exchange.
 * With `offline`, asks for offline_access (which needs prompt=consent) and accepts the consent page.
 */
export async function signIn(t: Target, login: string, password: string, opts: { offline?: boolean } = {}): Promise<TokenSet> {
  const jar = new Jar();
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(12));
  const auth = new URL('/auth', t.issuer);
  auth.search = new URLSearchParams({
    client_id: t.clientId,
    response_type: 'code',
    redirect_uri: t.redirectUri,
    scope: opts.offline ? 'openid profile email offline_access' : 'openid profile email',
    ...(opts.offline ? { prompt: 'consent' } : {}),
    state,
    code_challenge: b64url(createHash('sha256').update(verifier).digest()),
    code_challenge_method: 'S256',
  }).toString();

  let url = auth;
  let init: { body?: string } = {};
  let signedIn = false;
  for (let step = 0; step < 12; step++) {
    const cookie = jar.header();
    const res = await request(url, {
      body: init.body,
      headers: {
        'accept-language': 'en',
        ...(cookie ? { cookie } : {}),
        ...(init.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
      },
    });
    jar.store(res.headers['set-cookie']);
    init = {};
    if (res.status >= 300 && res.status < 400) {
      const next = new URL(res.headers.location ?? '', url);
      if (next.origin !== url.origin) {
        const code = next.searchParams.get('code');
        if (!code) throw new Error(`redirected to the client without a code: ${next.search}`);
        if (next.searchParams.get('state') !== state) throw new Error('state mismatch');
        return tokenRequest(t, { grant_type: 'authorization_code', code, redirect_uri: t.redirectUri, code_verifier: verifier });
      }
      url = next;
      continue;
    }
    if (res.status !== 200) throw new Error(`${url.pathname} answered ${res.status}: ${res.body.slice(0, 300)}`);
    const form = firstForm(res.body);
    if (/name="password"/.test(res.body) && !signedIn) {
      signedIn = true;
      form.fields.login = login;
      form.fields.password = password;
    } else if (!/\/confirm$/.test(form.action)) {
      throw new Error(`unexpected page at ${url.pathname}: ${res.body.slice(0, 300)}`);
    }
    url = new URL(form.action || url.pathname, url);
    init = { body: new URLSearchParams(form.fields).toString() };
  }
  throw new Error('too many redirects');
}

export async function userinfo(t: Target, accessToken: string): Promise<void> {
  const res = await request(new URL('/me', t.issuer), { headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
  if (res.status !== 200) throw new Error(`userinfo answered ${res.status}: ${res.body.slice(0, 200)}`);
  if (!(JSON.parse(res.body) as { sub?: string }).sub) throw new Error('userinfo without sub');
}

export async function refresh(t: Target, refreshToken: string): Promise<TokenSet> {
  const tokens = await tokenRequest(t, { grant_type: 'refresh_token', refresh_token: refreshToken });
  if (!tokens.refresh_token || tokens.refresh_token === refreshToken) throw new Error('refresh token did not rotate');
  return tokens;
}

export interface LoadResult {
  ops: number;
  errors: number;
  firstError?: string;
  seconds: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** The load generator's own CPU per operation (ms): it runs on the same cores as the server. */
  clientCpuMsPerOp: number;
}

/** One measurement window; several windows (interleaved with another server's) merge into one result. */
export interface LoadSlice {
  latencies: number[];
  errors: number;
  firstError?: string;
  seconds: number;
  clientCpuUs: number;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarise(slices: LoadSlice[]): LoadResult {
  const latencies = slices.flatMap((s) => s.latencies).sort((a, b) => a - b);
  const seconds = slices.reduce((a, s) => a + s.seconds, 0);
  const errors = slices.reduce((a, s) => a + s.errors, 0);
  const clientCpuUs = slices.reduce((a, s) => a + s.clientCpuUs, 0);
  return {
    ops: latencies.length,
    errors,
    firstError: slices.find((s) => s.firstError)?.firstError,
    seconds,
    perSecond: latencies.length / seconds,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    clientCpuMsPerOp: clientCpuUs / 1000 / Math.max(1, latencies.length),
  };
}

/**
 * Runs `concurrency` closed loops for `seconds`; loop i calls `op(i, n)` (n = its own count).
 * Operations started before the deadline are waited for and counted.
 */
export async function runLoad(concurrency: number, seconds: number, op: (loop: number, n: number) => Promise<void>): Promise<LoadSlice> {
  const latencies: number[] = [];
  let errors = 0;
  let firstError: string | undefined;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const deadline = start + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, async (_, loop) => {
    for (let n = 0; performance.now() < deadline; n++) {
      const t0 = performance.now();
      try {
        await op(loop, n);
        latencies.push(performance.now() - t0);
      } catch (err) {
        errors++;
        firstError ??= err instanceof Error ? err.message : String(err);
        if (errors > 50 && errors > latencies.length) throw new Error(`the load fails: ${firstError}`);
      }
    }
  }));
  const cpu = process.cpuUsage(cpu0);
  return { latencies, errors, firstError, seconds: (performance.now() - start) / 1000, clientCpuUs: cpu.user + cpu.system };
}
