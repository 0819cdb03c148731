import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { configSchema, type Config } from './schema.ts';
import { lazy } from '../lazy.ts';
import { securePrivateFile } from '../file-modes.ts';
import { AppError } from '../errors.ts';

const yaml = lazy<typeof import('yaml')>('yaml');

/** A bad configuration: `message` is one line naming the key path and the problem. */
export class ConfigError extends AppError {
  /** `message` names the key path and the problem, in one line for an operator (never a user). */
  constructor(message: string) {
    // 500: a misconfigured server, not the visitor's fault; `expose` is then false, so a page shows
    // only the generic message.
    super('config_invalid', 500, message, { messageId: 'errors:generic' });
    this.name = 'ConfigError';
  }
}

export type ValueSource = 'file' | 'default' | `env ${string}`;

export interface LoadedConfig {
  config: Config;
  /** Absolute path of the file read, or null when none existed. */
  file: string | null;
  /** Where each overridden or file-given top-level value came from (dotted key → source). */
  sources: Record<string, ValueSource>;
  warnings: string[];
}

const ENV_OVERRIDES: Array<{ env: string; path: string[]; parse: (v: string) => unknown }> = [
  { env: 'OIDC_SSPR_ISSUER', path: ['issuer'], parse: (v) => v },
  { env: 'PORT', path: ['port'], parse: (v) => Number(v) },
  { env: 'DATABASE_URL', path: ['database'], parse: (v) => v },
  { env: 'OIDC_SSPR_COOKIE_KEYS', path: ['secrets', 'cookie_keys'], parse: splitList },
  { env: 'OIDC_SSPR_ENCRYPTION_KEYS', path: ['secrets', 'encryption_keys'], parse: splitList },
  { env: 'OIDC_SSPR_SMTP_PASS', path: ['delivery', 'email', 'smtp', 'pass'], parse: (v) => v },
  { env: 'OIDC_SSPR_METRICS_TOKEN', path: ['metrics', 'token'], parse: (v) => v },
];

function splitList(v: string): string[] {
  return v.split(',').map((s) => s.trim()).filter(Boolean);
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

/** Turns the first zod issue into the one line an admin reads. */
export function describeIssue(error: z.ZodError, prefix = ''): string {
  const issue = error.issues[0];
  const path = [prefix, ...issue.path.map(String)].filter(Boolean).join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return `${path || '(top level)'}: ${message}`;
}

export interface LoadOptions {
  /** Path of the YAML file; default `OIDC_SSPR_CONFIG` or `config/oidc-sspr.yaml` under cwd. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  /** Extra values merged over the file (tests use this to set ports and databases). */
  overrides?: Record<string, unknown>;
  /** Generate missing secrets for SQLite and keep them beside the database (default true). */
  generateSecrets?: boolean;
}

/** The config file as written (YAML, an empty file as `{}`), before defaults and the environment; one clear line if it is not YAML. */
export function readConfigFile(file: string): unknown {
  try {
    return yaml().parse(readFileSync(file, 'utf8')) ?? {};
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    throw new ConfigError(`${file}: not valid YAML: ${first}`);
  }
}

export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const file = resolve(options.file ?? env.OIDC_SSPR_CONFIG ?? 'config/oidc-sspr.yaml');
  const baseDir = existsSync(file) ? dirname(file) : process.cwd();
  const sources: Record<string, ValueSource> = {};
  let raw: unknown = {};
  let fileUsed: string | null = null;
  if (existsSync(file)) {
    fileUsed = file;
    raw = readConfigFile(file);
    if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(`${file}: the top level must be a mapping of keys`);
    for (const key of Object.keys(raw as object)) sources[key] = 'file';
  } else if (options.file ?? env.OIDC_SSPR_CONFIG) {
    throw new ConfigError(`${file}: config file not found`);
  }
  const merged = structuredClone(raw) as Record<string, unknown>;
  for (const [key, value] of Object.entries(options.overrides ?? {})) merged[key] = value;
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v !== undefined && v !== '') {
      setPath(merged, o.path, o.parse(v));
      sources[o.path.join('.')] = `env ${o.env}`;
    }
  }
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) throw new ConfigError(describeIssue(parsed.error));
  const config = parsed.data;
  const warnings: string[] = [];
  config.database = resolveDatabase(config.database, baseDir);
  config.delivery.outbox_dir = resolvePath(config.delivery.outbox_dir, baseDir);
  if (config.password_policy.banned_passwords_file) {
    config.password_policy.banned_passwords_file = resolvePath(config.password_policy.banned_passwords_file, baseDir);
    if (!existsSync(config.password_policy.banned_passwords_file)) {
      throw new ConfigError(`password_policy.banned_passwords_file: file not found: ${config.password_policy.banned_passwords_file}`);
    }
  }
  if (options.generateSecrets !== false) ensureSecrets(config, warnings);
  if (new URL(config.issuer).protocol === 'https:' && !config.proxy) {
    // The cookies then carry __Host-/__Secure- prefixes and need Secure, which needs a request Node sees as https.
    warnings.push('issuer is https but proxy is false: behind a TLS-terminating proxy set proxy: true, or browsers will refuse the sign-in cookies');
  }
  if (!config.proxy && config.proxy_hops !== 1) {
    // Without proxy: true X-Forwarded-For is not read at all, so the count of proxies changes nothing.
    warnings.push('proxy_hops is set but proxy is false: X-Forwarded-For is ignored and proxy_hops has no effect');
  }
  return { config, file: fileUsed, sources, warnings };
}

function resolvePath(p: string, baseDir: string): string {
  return isAbsolute(p) ? p : resolve(baseDir, p);
}

/** `sqlite:relative/file` resolves against the config folder; `sqlite::memory:` and URLs stay. */
function resolveDatabase(url: string, baseDir: string): string {
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) return url;
  if (!url.startsWith('sqlite:')) throw new ConfigError(`database: must start with sqlite: or postgres:// (got "${url.split(':')[0]}:")`);
  const path = url.slice('sqlite:'.length);
  if (path === ':memory:') return url;
  if (!path) throw new ConfigError('database: sqlite: needs a file path, e.g. sqlite:../data/oidc-sspr.sqlite');
  return `sqlite:${resolvePath(path, baseDir)}`;
}

export function isSqlite(config: Config): boolean {
  return config.database.startsWith('sqlite:');
}

/**
 * Secrets left out are generated on first start and kept beside the SQLite database, so a fresh
 * clone starts; several instances on PostgreSQL must share them, so there they are required.
 */
function ensureSecrets(config: Config, warnings: string[]): void {
  const missing = config.secrets.cookie_keys.length === 0 || config.secrets.encryption_keys.length === 0;
  if (!missing) return;
  if (!isSqlite(config)) {
    const key = config.secrets.cookie_keys.length === 0 ? 'cookie_keys (OIDC_SSPR_COOKIE_KEYS)' : 'encryption_keys (OIDC_SSPR_ENCRYPTION_KEYS)';
    throw new ConfigError(`secrets.${key}: required with PostgreSQL, because every instance must share them`);
  }
  const dbPath = config.database.slice('sqlite:'.length);
  if (dbPath === ':memory:') {
    if (config.secrets.cookie_keys.length === 0) config.secrets.cookie_keys = [randomKey()];
    if (config.secrets.encryption_keys.length === 0) config.secrets.encryption_keys = [randomKey()];
    return;
  }
  const secretsFile = resolve(dirname(dbPath), 'secrets.json');
  let stored: { cookie_keys?: string[]; encryption_keys?: string[] } = {};
  if (existsSync(secretsFile)) {
    // Written 0644 by older versions: these keys open every TOTP seed and sign every cookie.
    securePrivateFile(secretsFile, (m) => warnings.push(m));
    stored = JSON.parse(readFileSync(secretsFile, 'utf8')) as typeof stored;
  }
  let changed = false;
  if (!stored.cookie_keys?.length) { stored.cookie_keys = [randomKey()]; changed = true; }
  if (!stored.encryption_keys?.length) { stored.encryption_keys = [randomKey()]; changed = true; }
  if (changed) {
    mkdirSync(dirname(secretsFile), { recursive: true, mode: 0o700 });
    writeFileSync(secretsFile, JSON.stringify(stored, null, 2), { mode: 0o600 });
    warnings.push(`secrets: generated and kept in ${secretsFile}; set them in the config file or environment for production`);
  }
  if (config.secrets.cookie_keys.length === 0) config.secrets.cookie_keys = stored.cookie_keys;
  if (config.secrets.encryption_keys.length === 0) config.secrets.encryption_keys = stored.encryption_keys;
}

function randomKey(): string {
  return randomBytes(32).toString('base64url');
}
