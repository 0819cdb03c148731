import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import { QueryTypes } from 'sequelize';
import { Browser, findForm, inputByAutocomplete, type Page } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { consentIfAsked, relyingParty, signIn, type RelyingParty } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser, type SeededUser } from '../support/users.ts';
import { CODE_RUN, startGateway, startSmtpServer, waitFor } from '../unit/delivery/helpers.ts';

/**
 * Issue 8, "Fuzzing": property-based tests that post generated bodies to every form and endpoint we
 * own (and to the provider's endpoints): oversized, missing, repeated, array- and object-valued
 * fields, bad percent-encodings, NUL and control characters, long Unicode, wrong content types and
 * encodings, with and without valid CSRF tokens and flow cookies, at every step of every flow.
 *
 * Properties, per request: never a 5xx; never a stack trace, source path or driver error in the body;
 * no row of `accounts` or `recovery_methods` changed. Per endpoint: the server still serves.
 *
 * Reproduce a failure with the seed printed in the error: FUZZ_SEED=<seed> (FUZZ_RUNS=<n> to go wider).
 */

const SEED = Number(process.env.FUZZ_SEED ?? 0x5eed_0008);
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

type Smtp = Awaited<ReturnType<typeof startSmtpServer>>;
type Gateway = Awaited<ReturnType<typeof startGateway>>;

// ── the generated request ─────────────────────────────────────────────────────────────────────────

/** A field value: the context's valid value for this name (a live CSRF token, flow id…), or a literal. */
type Value = { valid: true } | { valid: false; text: string };
type KeyShape = 'plain' | 'array' | 'index' | 'object' | 'deep' | 'proto' | 'constructor' | 'repeat' | 'bare' | 'brackets';
type Encoding = 'pct' | 'raw' | 'bad' | 'plus';
interface Field { name: string; shape: KeyShape; value: Value; enc: Encoding }

type BodyPlan =
  | { kind: 'form'; fields: Field[]; separator: string }
  | { kind: 'json'; fields: Field[]; wrap: 'object' | 'array' | 'string' | 'nested' }
  | { kind: 'multipart'; fields: Field[] }
  | { kind: 'bytes'; bytes: Uint8Array }
  | { kind: 'oversized'; fields: Field[]; size: number; name: string }
  | { kind: 'empty' };

interface Plan {
  method: string;
  body: BodyPlan;
  contentType: string | null;
  contentEncoding: string | null;
  chunked: boolean;
  cookies: 'jar' | 'none' | 'junk';
  junkCookie: string;
  path: 'ok' | string;
  query: string;
  auth: 'none' | 'valid' | string;
  pick: number;
}

const BAD_PCT = ['%', '%Z1', '%E0%A4%A', '%FF%FE', '%C0%AF', '%ED%A0%80', '%00', '%%', '%2', '%u0041', '%F4%90%80%80', '%C3'];
const SPECIAL = [
  '', ' ', '0', '-1', '1e999', 'NaN', 'null', 'undefined', 'true', '[]', '{}', '[object Object]',
  "' OR '1'='1", "x'); DROP TABLE accounts; --", '<script>alert(1)</script>', '<%= process.env %>', '${7*7}', '{{7*7}}',
  '../../../../etc/passwd', '..\\..\\windows', '__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString',
  'email', 'sms', 'totp', 'none', 'back', 'resend', 'change', 'yes', 'no', '000000', '123456', '99999999',
  'x@example.org', 'rita@example.org', 'RITA', ' rita ', 'rita\u0000', 'ri\u200bta', '+31612345678', '06 12345678', '+999999999999999999',
  'authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code', 'openid', 'test-app', 'public-app',
  'http://127.0.0.1:1/cb', 'javascript:alert(1)', 'data:,x', '\ud800', '\udfff\ud800', '\u202e', '\ufeff', '\u{10ffff}', 'a\r\nSet-Cookie: x=1',
];

const controlChars = fc.array(fc.integer({ min: 0, max: 31 }).map((c) => String.fromCharCode(c)), { minLength: 1, maxLength: 20 }).map((a) => a.join(''));
const longText = fc.tuple(fc.constantFrom('a', 'é', '𝔘', '\u0000', '%', '&', '=', '字', '👩‍👩‍👧', ' '), fc.integer({ min: 200, max: 20_000 }))
  .map(([c, n]) => c.repeat(Math.ceil(n / c.length)));

const literal: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...SPECIAL) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 120 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 120 }) },
  { weight: 1, arbitrary: controlChars },
  { weight: 1, arbitrary: longText },
  { weight: 1, arbitrary: fc.stringMatching(/^\d{1,12}$/) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength: 500, maxLength: 2000 }) },
);

const value: fc.Arbitrary<Value> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({ valid: true } as const) },
  { weight: 4, arbitrary: literal.map((text): Value => ({ valid: false, text })) },
);

const shape = fc.constantFrom<KeyShape>('plain', 'plain', 'plain', 'plain', 'array', 'index', 'object', 'deep', 'proto', 'constructor', 'repeat', 'bare', 'brackets');
const encoding = fc.constantFrom<Encoding>('pct', 'pct', 'pct', 'raw', 'bad', 'plus');

function fieldArb(names: string[]): fc.Arbitrary<Field> {
  const name = fc.oneof(
    { weight: 5, arbitrary: fc.constantFrom(...names) },
    { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'hasOwnProperty', '', '[]', 'a.b', 'toString', 'valueOf') },
    { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  );
  return fc.record({ name, shape, value, enc: encoding });
}

/** Every field of the endpoint with its valid value, then a few mutations: reaches past the CSRF check. */
function nearlyValid(baseline: string[], names = baseline): fc.Arbitrary<Field[]> {
  const base = baseline.map((name): Field => ({ name, shape: 'plain', value: { valid: true }, enc: 'pct' }));
  const mutation = fc.record({ index: fc.nat(), drop: fc.boolean(), field: fieldArb(names) });
  return fc.array(mutation, { minLength: 1, maxLength: 3 }).map((ms) => {
    const out = [...base];
    for (const m of ms) {
      if (m.drop && out.length > 0) out.splice(m.index % out.length, 1);
      else if (out.length > 0 && m.index % 3 !== 0) out[m.index % out.length] = { ...m.field, name: out[m.index % out.length].name };
      else out.push(m.field);
    }
    return out;
  });
}

function bodyArb(names: string[], baseline = names): fc.Arbitrary<BodyPlan> {
  const fields = fc.oneof({ weight: 3, arbitrary: nearlyValid(baseline, names) }, { weight: 2, arbitrary: fc.array(fieldArb(names), { maxLength: 25 }) });
  return fc.oneof(
    { weight: 8, arbitrary: fc.record({ kind: fc.constant('form' as const), fields, separator: fc.constantFrom('&', '&', '&', ';', '&&', '&amp;') }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('json' as const), fields, wrap: fc.constantFrom('object' as const, 'array' as const, 'string' as const, 'nested' as const) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('multipart' as const), fields }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 2000 }) }) },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('oversized' as const), fields: nearlyValid(baseline, names), size: fc.integer({ min: 15_000, max: 120_000 }), name: fc.constantFrom(...names, 'zzz') }) },
    { weight: 1, arbitrary: fc.constant({ kind: 'empty' as const }) },
  );
}

const FORM = 'application/x-www-form-urlencoded';
const contentType = fc.oneof(
  { weight: 10, arbitrary: fc.constant<string | null>(FORM) },
  {
    weight: 6,
    arbitrary: fc.constantFrom<string | null>(
      null, 'application/json', 'multipart/form-data; boundary=XyZ', 'multipart/form-data', 'text/plain', 'text/plain; charset=utf-8',
      `${FORM}; charset=utf-8`, `${FORM}; charset=latin1`, `${FORM}; charset=utf-16le`, `${FORM}; charset=x-bogus`, `${FORM}; charset=`,
      'APPLICATION/X-WWW-FORM-URLENCODED', `${FORM}, application/json`, 'application/xml', '*/*', ';;;', 'x', 'application/jwt',
      'application/x-www-form-urlencoded;;boundary="', 'application/json; charset=utf-32',
    ),
  },
);

function planArb(t: Target): fc.Arbitrary<Plan> {
  return fc.record({
    method: t.methods.length > 1 ? fc.constantFrom(...t.methods) : fc.constant(t.methods[0]),
    body: bodyArb(t.fields, t.baseline),
    contentType,
    contentEncoding: fc.oneof({ weight: 8, arbitrary: fc.constant<string | null>(null) }, { weight: 2, arbitrary: fc.constantFrom<string | null>('gzip', 'deflate', 'br', 'identity', 'x-junk', 'gzip, gzip', 'GZIP') }),
    chunked: fc.boolean(),
    cookies: fc.constantFrom<'jar' | 'none' | 'junk'>('jar', 'jar', 'jar', 'jar', 'jar', 'none', 'junk'),
    junkCookie: fc.constantFrom('x', 'a.b', 'a.b.c', '.', '..', '%ZZ', '%E0%A4%A', 'a'.repeat(3000), '"quoted"', 'x\tx', '=', 'deleted', ''),
    path: fc.oneof({ weight: 9, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.constantFrom('%', '%ZZ', '%E0%A4%A', '..%2F..', '%00', '%C0%AF', 'a'.repeat(3000), '%2e%2e', 'x;y', '') }),
    query: fc.oneof(
      { weight: 8, arbitrary: fc.constant('') },
      { weight: 2, arbitrary: fc.constantFrom('?a[b]=1', '?__proto__[x]=1&constructor[prototype][y]=2', '?m=%ZZ', '?m=added&m=removed', '?expired=1&expired=2', '?ui_locales=%FF', '?ui_locales[]=nl', '?%=', '?&&&==&', `?x=${'y'.repeat(5000)}`, '?lang=nl', '?lang[]=nl', '?lang=%FF', '?lang=nl&lang=en', '?lang[__proto__]=x', '?m[]=added') },
    ),
    pick: fc.nat(1000),
    auth: fc.oneof({ weight: t.validAuth ? 3 : 6, arbitrary: fc.constant('none') }, { weight: t.validAuth ? 5 : 1, arbitrary: fc.constant('valid') }, { weight: 2, arbitrary: fc.constantFrom('Basic', 'Basic %%%', 'Basic Og==', `Basic ${Buffer.from('test-app:wrong').toString('base64')}`, 'Bearer', 'Bearer x', `Bearer ${'a'.repeat(5000)}`, 'Digest x', 'Basic dGVzdC1hcHA6', `Basic ${Buffer.from('%ZZ:%E0').toString('base64')}`) }),
  });
}

// ── turning a plan into bytes ─────────────────────────────────────────────────────────────────────

/** Percent-encodes the UTF-8 bytes (a lone surrogate becomes U+FFFD, as a browser would send it). */
function pct(s: string, plus = false): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    if (/[A-Za-z0-9_.~-]/.test(c)) out += c;
    else if (plus && c === ' ') out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

function keyOf(f: Field): string[] {
  const n = f.name;
  switch (f.shape) {
    case 'plain': return [n];
    case 'array': return [`${n}[]`];
    case 'index': return [`${n}[0]`];
    case 'object': return [`${n}[x]`];
    case 'deep': return [`${n}[a][b][c][d][e][f]`];
    case 'proto': return [`__proto__[${n}]`];
    case 'constructor': return [`constructor[prototype][${n}]`];
    case 'repeat': return [n, n];
    case 'bare': return [n];
    case 'brackets': return [`[${n}]`];
  }
}

function resolve(f: Field, valid: Record<string, string>): string {
  return f.value.valid ? (Object.hasOwn(valid, f.name) ? valid[f.name] : '') : f.value.text;
}

function encodeForm(fields: Field[], valid: Record<string, string>, separator: string): Buffer {
  const parts: Buffer[] = [];
  for (const f of fields) {
    const v = resolve(f, valid);
    for (const k of keyOf(f)) {
      if (f.shape === 'bare') { parts.push(Buffer.from(pct(k))); continue; }
      let enc: Buffer;
      switch (f.enc) {
        case 'pct': enc = Buffer.from(`${pct(k)}=${pct(v)}`); break;
        case 'plus': enc = Buffer.from(`${pct(k, true)}=${pct(v, true)}`); break;
        case 'raw': enc = Buffer.from(`${k}=${v}`, 'utf8'); break;
        case 'bad': {
          const p = pct(v);
          const bad = BAD_PCT[(v.length + k.length) % BAD_PCT.length];
          const at = p.length === 0 ? 0 : (v.length * 7) % (p.length + 1);
          enc = Buffer.from(`${pct(k)}=${p.slice(0, at)}${bad}${p.slice(at)}`);
          break;
        }
      }
      parts.push(enc);
    }
  }
  const sep = Buffer.from(separator);
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [sep, p])));
}

function encodeBody(body: BodyPlan, valid: Record<string, string>): Buffer {
  switch (body.kind) {
    case 'form': return encodeForm(body.fields, valid, body.separator);
    case 'json': {
      const obj: Record<string, unknown> = {};
      for (const f of body.fields) {
        const v = resolve(f, valid);
        obj[f.name] = f.shape === 'array' ? [v, v] : f.shape === 'object' ? { x: v } : f.shape === 'deep' ? { a: { b: [v] } } : v;
      }
      if (body.wrap === 'nested') return Buffer.from(`{"data":${JSON.stringify(obj)},"__proto__":${JSON.stringify(obj)}}`);
      return Buffer.from(JSON.stringify(body.wrap === 'object' ? obj : body.wrap === 'array' ? [obj] : JSON.stringify(obj)));
    }
    case 'multipart': {
      const parts = body.fields.map((f) => `--XyZ\r\nContent-Disposition: form-data; name="${f.name}"\r\n\r\n${resolve(f, valid)}\r\n`);
      return Buffer.from(`${parts.join('')}--XyZ--\r\n`);
    }
    case 'bytes': return Buffer.from(body.bytes);
    case 'oversized': {
      const head = encodeForm(body.fields, valid, '&');
      return Buffer.concat([head, Buffer.from(`&${body.name}=`), Buffer.alloc(body.size, 'A')]);
    }
    case 'empty': return Buffer.alloc(0);
  }
}

interface Response { status: number; body: string; headers: Record<string, string | string[] | undefined> }

function send(url: URL, method: string, headers: Record<string, string>, body: Buffer | null, chunked: boolean): Promise<Response> {
  return new Promise((resolvePromise, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path: `${url.pathname}${url.search}`, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), headers: res.headers }));
      res.on('error', reject);
    });
    // A server that answers (413) before reading the whole body may reset the socket: that is a fine answer.
    req.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNRESET' || err.code === 'EPIPE') resolvePromise({ status: 0, body: '', headers: {} });
      else reject(err);
    });
    if (body && body.length > 0) {
      if (chunked) {
        const mid = Math.floor(body.length / 2);
        req.write(body.subarray(0, mid));
        req.end(body.subarray(mid));
      } else {
        req.setHeader('content-length', String(body.length));
        req.end(body);
      }
    } else req.end();
  });
}

// ── what a response must never show ───────────────────────────────────────────────────────────────

const LEAKS: Array<[RegExp, string]> = [
  [/\bat (?:async )?[\w$.<>[\] ]*\(?(?:file:\/\/|\/|node:)[^\s)]*:\d+:\d+/, 'a stack frame'],
  [/node_modules[\\/]/, 'a node_modules path'],
  [/\/work\/|\/home\/|\/usr\/|\/tmp\//, 'a file system path'],
  [/\.(?:ts|js|mjs):\d+/, 'a source location'],
  [/Sequelize\w*Error|SQLITE_\w+|SQLITE_ERROR|sqlite3|pg_|ECONNREFUSED/, 'a driver error'],
  [/\b(?:TypeError|ReferenceError|RangeError|SyntaxError|URIError)\b/, 'a JavaScript error name'],
];

function assertClean(res: Response, what: string): void {
  assert.ok(res.status < 500, `${what}: status ${res.status}\n${res.body.slice(0, 1500)}`);
  for (const [re, name] of LEAKS) {
    const m = re.exec(res.body);
    assert.ok(!m, `${what}: the body shows ${name}: …${m ? res.body.slice(Math.max(0, m.index - 200), m.index + 200) : ''}…`);
  }
}

// ── endpoints ─────────────────────────────────────────────────────────────────────────────────────

interface Target {
  name: string;
  methods: string[];
  /** The URL path with `{uid}` where a junk path segment may go; `pick` chooses among several. */
  path: (pick: number) => string;
  uid?: () => string;
  fields: string[];
  /** The fields a nearly valid body starts from (default: all of `fields`). */
  baseline?: string[];
  /** Valid values for this request (live tokens); may bring the flow back to the step first. */
  prepare: () => Promise<Record<string, string>>;
  browser?: Browser;
  cookieName?: string;
  /** GET endpoints take the generated fields in the query string. */
  bodyInQuery?: boolean;
  validAuth?: () => string;
}

/** A short, readable account of a failing request (the full plan can be megabytes). */
function describePlan(plan: Plan, t: Target): string {
  const fields = 'fields' in plan.body ? plan.body.fields.map((f) => `${keyOf(f).join('+')}(${f.enc})=${f.value.valid ? '<valid>' : JSON.stringify(f.value.text.slice(0, 60)) + (f.value.text.length > 60 ? `…(${f.value.text.length})` : '')}`).join(' ') : '';
  return [
    `request: ${plan.method} ${t.path(plan.pick)} path=${plan.path.slice(0, 40)} query=${plan.query.slice(0, 60)}`,
    `  content-type=${plan.contentType} content-encoding=${plan.contentEncoding} chunked=${plan.chunked} cookies=${plan.cookies}${plan.cookies === 'junk' ? `(${plan.junkCookie.slice(0, 20)})` : ''} auth=${plan.auth.slice(0, 30)}`,
    `  body=${plan.body.kind}${plan.body.kind === 'oversized' ? `(${plan.body.size})` : ''} ${fields}`,
  ].join('\n');
}

const csrfOf = (page: Page, actionPart?: string) => findForm(page.html, actionPart).hidden.csrf;
const uidOf = (url: string) => /\/interaction\/([^/?]+)/.exec(url)![1];

describe('fuzzing every form and endpoint (fast-check)', function () {
  this.timeout(120_000);
  let db: TestDatabase & { dir: string };
  let srv: TestServer;
  let smtp: Smtp;
  let gateway: Gateway;
  let rp: RelyingParty;
  const targets: Target[] = [];
  let tokens: { access: string; refresh: string } = { access: '', refresh: '' };

  async function snapshot(): Promise<string> {
    const q = (sql: string) => srv.app.store.sequelize.query(sql, { type: QueryTypes.SELECT });
    return JSON.stringify([await q('SELECT * FROM accounts ORDER BY id'), await q('SELECT * FROM recovery_methods ORDER BY id')]);
  }

  async function mailedCode(to: string, since: number): Promise<string> {
    let text = '';
    await waitFor(() => {
      const m = smtp.received.slice(since).find((x) => x.to.includes(to) && (x.text.match(CODE_RUN) !== null));
      if (m) text = m.text;
      return m !== undefined;
    }, 5000);
    return text.match(CODE_RUN)![0];
  }

  async function userWithEmail(login: string): Promise<SeededUser & { recovery: string }> {
    const user = await seedUser(srv.app, { login });
    const recovery = `${login}.recovery@example.net`;
    await srv.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });
    return { ...user, recovery };
  }

  /** A browser signed in (consent given) as `user`; returns the tokens of that authorization. */
  async function signedIn(user: SeededUser) {
    const b = new Browser();
    const { page, verifier, state } = await rp.start(b);
    const done = await consentIfAsked(b, await signIn(b, page, user.login, user.password));
    assert.ok(done.redirectedTo, `${user.login}: expected the callback, got ${done.status} ${done.url}`);
    const t = await rp.finish(done.redirectedTo, verifier, state);
    return { browser: b, access: t.access_token, refresh: t.refresh_token ?? '' };
  }

  const flowRow = (b: Browser) => {
    const id = b.cookies.find((c) => c.name === 'oidc_sspr_reset')!.value.split('.')[0];
    return srv.app.store.models.Flow.findByPk(id);
  };

  before(async () => {
    smtp = await startSmtpServer();
    gateway = await startGateway();
    db = createSqliteDatabase();
    srv = await startTestServer({
      database: db.url,
      overrides: {
        // 64: no generated pair of equal strings passes the policy, so a password POST never lawfully succeeds.
        password_policy: { min_length: 64, min_strength: 2 },
        delivery: {
          outbox_dir: join(db.dir, 'outbox'),
          email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: smtp.port, secure: false } },
          sms: { transport: 'http', http: { url: gateway.url } },
        },
        sspr: {
          enabled_for: 'all',
          methods_required: 1,
          // Generous limits: the fuzz must reach the deep code, not the 429 page, on every run.
          throttle: {
            failed_verifications: { max: 1000, window_hours: 1, block_hours: 0 },
            email_sends: { max: 1000, window_minutes: 1, block_hours: 0 },
            sms_sends: { max: 1000, window_minutes: 1, block_hours: 0 },
            sign_in_failures: { delay_after: 100, block_after: 99, block_minutes: 1 },
          },
        },
      },
    });
    rp = await relyingParty(srv.issuer);
    const issuer = srv.issuer;
    const noPrep = async () => ({});

    // Login, abort: an interaction at the login prompt.
    {
      const rita = await userWithEmail('rita');
      const b = new Browser();
      const { page } = await rp.start(b);
      const uid = uidOf(page.url);
      const csrf = csrfOf(page);
      targets.push({ name: 'POST /interaction/:uid/login', methods: ['POST'], browser: b, uid: () => uid, path: () => '/interaction/{uid}/login', fields: ['csrf', 'login', 'password'], prepare: async () => ({ csrf, login: rita.login, password: 'not the password at all' }) });
      const b2 = new Browser();
      const { page: p2 } = await rp.start(b2);
      const uid2 = uidOf(p2.url);
      targets.push({ name: 'GET|POST /interaction/:uid/abort', methods: ['GET', 'POST'], browser: b2, uid: () => uid2, path: () => '/interaction/{uid}/abort', fields: ['csrf'], bodyInQuery: true, prepare: async () => ({ csrf: csrfOf(p2) }) });
    }

    // Consent: an interaction at the consent prompt.
    {
      const carl = await userWithEmail('carl');
      const b = new Browser();
      const { page } = await rp.start(b);
      const consent = await signIn(b, page, carl.login, carl.password);
      assert.match(consent.html, /\/confirm"/, 'the consent page');
      const uid = uidOf(consent.url);
      const csrf = csrfOf(consent, '/confirm');
      targets.push({ name: 'POST /interaction/:uid/confirm', methods: ['POST'], browser: b, uid: () => uid, path: () => '/interaction/{uid}/confirm', fields: ['csrf'], prepare: async () => ({ csrf }) });
    }

    // Registration prompt: a user without methods, in scope.
    {
      const rena = await seedUser(srv.app, { login: 'rena', phone: '+31612345678' });
      const b = new Browser();
      const { page } = await rp.start(b);
      const reg = await signIn(b, page, rena.login, rena.password);
      assert.match(reg.url, /\/register$/, `the registration prompt, got ${reg.url}`);
      const uid = uidOf(reg.url);
      const csrf = csrfOf(reg, '/method');
      let turn = 0;
      const prepare = async () => {
        const flow = await srv.app.store.models.Flow.findOne({ where: { kind: 'registration', accountId: rena.id }, order: [['createdAt', 'DESC']] });
        return { csrf, flow: flow?.id ?? '', method: ['email', 'sms', 'totp'][turn++ % 3], email: 'rena@example.org', phone: '+31612345678', code: '123456', action: 'resend' };
      };
      for (const step of ['method', 'target', 'verify', 'finish', 'reconfirm', 'skip']) {
        targets.push({ name: `POST /interaction/:uid/register/${step}`, methods: ['POST'], browser: b, uid: () => uid, path: () => `/interaction/{uid}/register/${step}`, fields: ['csrf', 'flow', 'method', 'email', 'phone', 'code', 'action'], prepare });
      }
      // The interaction's pages (GET) with junk queries and cookies; abort is left out: it ends the interaction.
      const pages = ['', '/register', '/reset', '/reset/method', '/reset/target', '/reset/code', '/reset/password', '/reset/done', '/login', '/confirm'];
      targets.push({
        name: 'GET /interaction/:uid/…', methods: ['GET'], browser: b, uid: () => uid, bodyInQuery: true, path: (pick) => `/interaction/{uid}${pages[pick % pages.length]}`,
        fields: ['m', 'expired', 'lang', 'ui_locales'], prepare: async () => ({ m: 'added', expired: '1', lang: 'nl', ui_locales: 'nl' }),
      });
    }

    // /account/security: a signed-in user with one method (the only one: removal is refused).
    {
      const anna = await userWithEmail('anna');
      const s = await signedIn(anna);
      tokens = { access: s.access, refresh: s.refresh };
      const methodId = (await srv.app.sspr.methodRepo.listVerified(anna.id))[0].id;
      const prepare = async () => {
        const page = await s.browser.get(`${issuer}/account/security`);
        assert.equal(page.status, 200, page.html.slice(0, 500));
        const form = findForm(page.html);
        return { csrf: form.hidden.csrf, flow: form.hidden.flow ?? '', method: methodId, email: 'anna@example.org', phone: '+31612345678', code: '123456', action: 'back', password: 'not the password either' };
      };
      for (const step of ['method', 'target', 'verify', 'finish', 'reconfirm', 'skip', 'remove', 'reauth']) {
        targets.push({ name: `POST /account/security/${step}`, methods: ['POST'], browser: s.browser, path: () => `/account/security/${step}`, fields: ['csrf', 'flow', 'method', 'email', 'phone', 'code', 'action', 'password'], prepare });
      }
      const pages = ['/account/security', '/reset', '/reset/method', '/reset/target', '/reset/code', '/reset/password', '/reset/done', '/static/style.css', '/healthz', '/metrics', '/nope', '/interaction/x'];
      targets.push({
        name: 'GET /account/security, /reset/…', methods: ['GET'], browser: s.browser, bodyInQuery: true, path: (pick) => pages[pick % pages.length],
        fields: ['m', 'expired', 'lang'], prepare: async () => ({ m: 'removed', expired: '1', lang: 'en' }),
      });
    }

    // Reset, both entries, a flow parked at each step.
    for (const entry of ['/reset', '/interaction/:uid/reset']) {
      const rita = await userWithEmail(`rita${entry.length}`);
      const fresh = async () => {
        const b = new Browser();
        let base = '/reset';
        if (entry !== '/reset') {
          const { page } = await rp.start(b);
          base = `/interaction/${uidOf(page.url)}/reset`;
        }
        const start = await b.get(`${issuer}${base}`);
        assert.equal(start.status, 200);
        return { b, base, start, uid: base.split('/')[2] ?? '' };
      };
      const toMethod = async (login = rita.login) => {
        const f = await fresh();
        const method = await f.b.submit(f.start, { [inputByAutocomplete(f.start.html, 'username')]: login });
        assert.match(method.url, /\/method$/, method.html.slice(0, 800));
        return { ...f, csrf: csrfOf(method), method };
      };
      const pathOf = (base: string, step: string) => (entry === '/reset' ? `/reset${step}` : `/interaction/{uid}/reset${step}`);

      // Identifier: a new flow every run.
      {
        const b = new Browser();
        let base = '/reset';
        let uid = '';
        if (entry !== '/reset') {
          const { page } = await rp.start(b);
          uid = uidOf(page.url);
          base = `/interaction/${uid}/reset`;
        }
        targets.push({
          name: `POST ${entry}`, methods: ['POST'], browser: b, uid: () => uid, path: () => pathOf(base, ''), fields: ['csrf', 'login'],
          prepare: async () => ({ csrf: csrfOf(await b.get(`${issuer}${base}`)), login: rita.login }),
        });
      }
      // Method: at awaiting_method (choosing is allowed from method, target and code).
      {
        const f = await toMethod();
        let turn = 0;
        targets.push({ name: `POST ${entry}/method`, methods: ['POST'], browser: f.b, uid: () => f.uid, path: () => pathOf(f.base, '/method'), fields: ['csrf', 'method'], prepare: async () => ({ csrf: f.csrf, method: ['email', 'sms', 'totp'][turn++ % 3] }) });
      }
      // Target: back to awaiting_target before every run.
      {
        const f = await toMethod();
        let turn = 0;
        // Email and SMS in turn: the address and the phone number parsers both get the junk.
        const back = async () => {
          const method = turn++ % 2 === 0 ? 'email' : 'sms';
          await f.b.request(`${issuer}${f.base}/method`, { body: new URLSearchParams({ csrf: f.csrf, method }).toString() });
          assert.equal((await flowRow(f.b))?.state, 'awaiting_target');
          return { csrf: f.csrf, target: method === 'email' ? rita.recovery : '+31612345678' };
        };
        await back();
        targets.push({ name: `POST ${entry}/target`, methods: ['POST'], browser: f.b, uid: () => f.uid, path: () => pathOf(f.base, '/target'), fields: ['csrf', 'target'], prepare: back });
      }
      // Code: at awaiting_code (wrong codes keep it there).
      {
        const f = await toMethod();
        let turn = 0;
        // An emailed code and an authenticator code (checked against the dummy secret: rita has none) in turn.
        const back = async () => {
          const totp = turn++ % 2 === 1;
          const row = await flowRow(f.b);
          const pending = row ? (JSON.parse(row.data) as { pending?: { type: string } | null }).pending?.type : undefined;
          if (row?.state !== 'awaiting_code' || (pending === 'totp') !== totp) {
            await f.b.request(`${issuer}${f.base}/method`, { body: new URLSearchParams({ csrf: f.csrf, method: totp ? 'totp' : 'email' }).toString() });
            if (!totp) await f.b.request(`${issuer}${f.base}/target`, { body: new URLSearchParams({ csrf: f.csrf, target: rita.recovery }).toString() });
          }
          assert.equal((await flowRow(f.b))?.state, 'awaiting_code');
          return { csrf: f.csrf, code: '000000' };
        };
        await back();
        targets.push({ name: `POST ${entry}/code`, methods: ['POST'], browser: f.b, uid: () => f.uid, path: () => pathOf(f.base, '/code'), fields: ['csrf', 'code'], prepare: back });
      }
      // Password: at awaiting_password, after a real code (refused passwords keep it there). Its own
      // user: the code flow's mail may still be on its way.
      {
        const pwUser = await userWithEmail(`pia${entry.length}`);
        const f = await toMethod(pwUser.login);
        const target = await f.b.submit(f.method, { method: 'email' });
        const since = smtp.received.length;
        const codePage = await f.b.submit(target, { target: pwUser.recovery });
        const pw = await f.b.submit(codePage, { [inputByAutocomplete(codePage.html, 'one-time-code')]: await mailedCode(pwUser.recovery, since) });
        assert.match(pw.url, /\/password$/, pw.html.slice(0, 800));
        targets.push({
          name: `POST ${entry}/password`, methods: ['POST'], browser: f.b, uid: () => f.uid, path: () => pathOf(f.base, '/password'), fields: ['csrf', 'new_password', 'confirm_password'],
          prepare: async () => {
            const row = await flowRow(f.b);
            assert.equal(row?.state, 'awaiting_password', 'the flow stays at the password step');
            return { csrf: f.csrf, new_password: 'correct horse battery staple 42', confirm_password: 'correct horse battery staple 43' };
          },
        });
      }
    }

    // Provider endpoints.
    {
      const lou = await userWithEmail('lou');
      const s = await signedIn(lou);
      const basic = `Basic ${Buffer.from('test-app:test-app-secret-0123456789').toString('base64')}`;
      targets.push({
        name: 'POST /token', methods: ['POST'], path: () => '/token', validAuth: () => basic, baseline: ['grant_type', 'refresh_token'],
        fields: ['grant_type', 'refresh_token', 'code', 'redirect_uri', 'code_verifier', 'client_id', 'client_secret', 'scope', 'resource'],
        prepare: async () => ({ grant_type: 'refresh_token', refresh_token: tokens.refresh, code: 'x', redirect_uri: 'http://127.0.0.1:1/cb', code_verifier: 'a'.repeat(43), client_id: 'test-app', client_secret: 'test-app-secret-0123456789', scope: 'openid', resource: 'urn:x' }),
      });
      targets.push({
        name: 'POST /token/revocation', methods: ['POST'], path: () => '/token/revocation', validAuth: () => basic, baseline: ['token', 'token_type_hint'],
        fields: ['token', 'token_type_hint', 'client_id', 'client_secret'],
        prepare: async () => ({ token: 'not-a-token', token_type_hint: 'refresh_token', client_id: 'test-app', client_secret: 'x' }),
      });
      targets.push({
        name: 'GET /auth', methods: ['GET'], path: () => '/auth', bodyInQuery: true, browser: s.browser,
        fields: ['client_id', 'response_type', 'scope', 'redirect_uri', 'state', 'nonce', 'prompt', 'code_challenge', 'code_challenge_method', 'ui_locales', 'login_hint', 'max_age', 'claims', 'request', 'request_uri', 'response_mode', 'id_token_hint'],
        prepare: async () => ({ client_id: 'test-app', response_type: 'code', scope: 'openid profile', redirect_uri: 'http://127.0.0.1:1/cb', state: 's', nonce: 'n', prompt: 'none', code_challenge: 'a'.repeat(43), code_challenge_method: 'S256', ui_locales: 'nl', login_hint: 'lou', max_age: '0', claims: '{"userinfo":{"email":null}}' }),
      });
      targets.push({
        name: 'GET /session/end', methods: ['GET'], path: () => '/session/end', bodyInQuery: true, browser: s.browser,
        fields: ['id_token_hint', 'post_logout_redirect_uri', 'state', 'ui_locales', 'client_id', 'logout_hint'],
        prepare: async () => ({ post_logout_redirect_uri: 'http://127.0.0.1:1/', client_id: 'test-app', ui_locales: 'nl', state: 'x' }),
      });
      const out = await signedIn(await userWithEmail('otto'));
      targets.push({
        name: 'POST /session/end/confirm', methods: ['POST'], path: () => '/session/end/confirm', browser: out.browser, fields: ['xsrf', 'logout'],
        prepare: async () => {
          const page = await out.browser.request(`${issuer}/session/end`);
          return { xsrf: /name="xsrf" value="([^"]+)"/.exec(page.html)?.[1] ?? '', logout: 'yes' };
        },
      });
      targets.push({
        name: 'GET|POST /me', methods: ['GET', 'POST'], path: () => '/me', validAuth: () => `Bearer ${tokens.access}`, fields: ['access_token', 'claims'], baseline: [],
        prepare: async () => ({ access_token: tokens.access, claims: '{}' }),
      });
    }
  });

  after(async () => {
    await srv?.close();
    await smtp?.close();
    await gateway?.close();
    await db?.drop();
  });

  async function run(t: Target, plan: Plan): Promise<Response> {
    const valid = await t.prepare();
    let path = t.path(plan.pick);
    if (path.includes('{uid}')) path = path.replace('{uid}', plan.path === 'ok' ? (t.uid?.() ?? '') : plan.path);
    let body: Buffer | null = encodeBody(plan.body, valid);
    let query = plan.query;
    if (t.bodyInQuery && plan.method === 'GET') {
      const q = body.toString('latin1').replace(/[^\x21-\x7e]/g, (c) => `%${c.charCodeAt(0).toString(16).padStart(2, '0')}`).replace(/#/g, '%23');
      query = `?${q}${query ? `&${query.slice(1)}` : ''}`;
      body = null;
    }
    const url = new URL(`${srv.issuer}${path}`);
    const headers: Record<string, string> = { 'user-agent': 'fuzz', 'accept-language': 'en' };
    if (body !== null && plan.contentType !== null) headers['content-type'] = plan.contentType;
    if (body !== null && plan.contentEncoding !== null) {
      headers['content-encoding'] = plan.contentEncoding;
      if (plan.contentEncoding === 'gzip' && plan.body.kind === 'form') body = gzipSync(body);
    }
    if (plan.auth === 'valid' && t.validAuth) headers.authorization = t.validAuth();
    else if (plan.auth !== 'none' && plan.auth !== 'valid') headers.authorization = plan.auth;
    if (t.browser && plan.cookies !== 'none') {
      const jar = t.browser.cookies.filter((c) => url.pathname.startsWith(c.path) || c.path === '/');
      const parts = jar.map((c) => `${c.name}=${plan.cookies === 'junk' && (c.name.startsWith('oidc_sspr_reset') || c.name.startsWith('_interaction') || c.name.startsWith('_session')) ? plan.junkCookie : c.value}`);
      if (plan.cookies === 'junk') parts.push(`oidc_sspr_reset=${plan.junkCookie}`, `_session=${plan.junkCookie}`);
      if (parts.length) headers.cookie = parts.join('; ');
    }
    // Node frames a streamed body as chunked only for methods that usually carry one: a GET body goes with a length.
    const res = await send(new URL(`${url.origin}${url.pathname}${query}`), plan.method, headers, body, plan.chunked && plan.method === 'POST');
    return res;
  }

  it('regressions the fuzz found: a non-ASCII CSRF token of 43 characters, a NUL in a client id or token', async () => {
    const before = await snapshot();
    const login = targets.find((t) => t.name === 'POST /interaction/:uid/login')!;
    const uid = login.uid!();
    const cookie = login.browser!.cookies.filter((c) => `/interaction/${uid}/login`.startsWith(c.path)).map((c) => `${c.name}=${c.value}`).join('; ');
    const form = { 'content-type': FORM, cookie };
    // 42 ASCII characters and one of two bytes: timingSafeEqual threw on the length mismatch.
    const csrf = await send(new URL(`${srv.issuer}/interaction/${uid}/login`), 'POST', form, Buffer.from(`csrf=${'a'.repeat(42)}%C3%A9&login=rita&password=x`), false);
    assert.equal(csrf.status, 403);
    assert.match(csrf.body, /data-error-code="csrf"/);
    // A NUL reached the SQL of the provider's adapter (client, token and code lookups).
    const revoke = await send(new URL(`${srv.issuer}/token/revocation`), 'POST', { 'content-type': FORM }, Buffer.from('client_id=%00x&token=y'), false);
    assert.equal(revoke.status, 401);
    const auth = await send(new URL(`${srv.issuer}/auth?client_id=a%00b&response_type=code&scope=openid&redirect_uri=http://127.0.0.1:1/cb`), 'GET', {}, null, false);
    assert.equal(auth.status, 400);
    const me = await send(new URL(`${srv.issuer}/me`), 'POST', { 'content-type': FORM }, Buffer.from('access_token=%00'), false);
    assert.equal(me.status, 401);
    const basic = `Basic ${Buffer.from('test-app:test-app-secret-0123456789').toString('base64')}`;
    const refresh = await send(new URL(`${srv.issuer}/token`), 'POST', { 'content-type': FORM, authorization: basic }, Buffer.from('grant_type=refresh_token&refresh_token=%00'), false);
    assert.equal(refresh.status, 400);
    for (const r of [csrf, revoke, auth, me, refresh]) assertClean(r, 'regression');
    assert.equal(await snapshot(), before);
  });

  it('prepares a context for every endpoint', () => {
    // 3 interaction pages + 6 registration steps + 8 /account/security posts + 2 × 5 reset steps + 2 GET page sets + 6 provider endpoints.
    assert.equal(targets.length, 3 + 6 + 8 + 10 + 2 + 6, targets.map((t) => t.name).join('\n'));
  });

  // One `it` per endpoint, defined lazily: the targets exist only after `before`.
  const names = [
    'POST /interaction/:uid/login', 'GET|POST /interaction/:uid/abort', 'POST /interaction/:uid/confirm',
    ...['method', 'target', 'verify', 'finish', 'reconfirm', 'skip'].map((s) => `POST /interaction/:uid/register/${s}`),
    ...['method', 'target', 'verify', 'finish', 'reconfirm', 'skip', 'remove', 'reauth'].map((s) => `POST /account/security/${s}`),
    ...['/reset', '/interaction/:uid/reset'].flatMap((e) => ['', '/method', '/target', '/code', '/password'].map((s) => `POST ${e}${s}`)),
    'GET /interaction/:uid/…', 'GET /account/security, /reset/…',
    'POST /token', 'POST /token/revocation', 'GET /auth', 'GET /session/end', 'POST /session/end/confirm', 'GET|POST /me',
  ];
  for (const name of names) {
    it(`${name}: never a 5xx, never a stack trace, never a changed account or method`, async () => {
      const t = targets.find((x) => x.name === name);
      assert.ok(t, `no context for ${name}`);
      const before = await snapshot();
      const seed = SEED + names.indexOf(name);
      const statuses: Record<string, number> = {};
      const out = await fc.check(fc.asyncProperty(planArb(t), async (plan) => {
        const res = await run(t, plan);
        const why = /data-error-code="([^"]+)"/.exec(res.body)?.[1] ?? /"error":"([^"]+)"(?:,"error_description":"([^"]{0,60}))?/.exec(res.body)?.slice(1).join(': ') ?? /data-message-id="([^"]+)"/.exec(res.body)?.[1] ?? '';
        const key = `${plan.method === 'POST' ? '' : `${plan.method} `}${res.status}${why ? ` ${why}` : ''}`;
        statuses[key] = (statuses[key] ?? 0) + 1;
        assertClean(res, `${name} ${plan.method}`);
        assert.equal(await snapshot(), before, `${name}: accounts or recovery_methods changed (status ${res.status})`);
      }), { numRuns: RUNS, seed, endOnFailure: true });
      if (out.failed) {
        const plan = out.counterexample?.[0];
        const err = out.errorInstance as Error | undefined;
        throw new Error([
          `fuzz failure on ${name} after ${out.numRuns} runs: reproduce with FUZZ_SEED=${SEED} (this endpoint's seed ${seed}, path ${out.counterexamplePath})`,
          plan ? describePlan(plan, t) : '',
          `${err?.message ?? String(out.errorInstance)}`.slice(0, 3000),
        ].join('\n'));
      }
      // FUZZ_STATS=1: how deep the runs went (403 = stopped at CSRF, 400 = at the parser or the flow…).
      if (process.env.FUZZ_STATS) console.log(`      ${name}: ${JSON.stringify(statuses)}`);
      // Still serving.
      const health = await send(new URL(`${srv.issuer}/healthz`), 'GET', {}, null, false);
      assert.equal(health.status, 200);
      const discovery = await send(new URL(`${srv.issuer}/.well-known/openid-configuration`), 'GET', {}, null, false);
      assert.equal(discovery.status, 200);
    });
  }
});
