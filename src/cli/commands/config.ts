import { isIP } from 'node:net';
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { Sequelize } from 'sequelize';
import { isSqlite, readConfigFile, type LoadedConfig } from '../../config/load.ts';
import { METHOD_TYPES, type Config } from '../../config/schema.ts';
import { loadStandings, scopeReport } from '../../audit/reports.ts';
import { mfaLines } from './scope.ts';
import { openDatabase } from '../../store/db.ts';
import { storeFromSequelize } from '../../store/index.ts';
import { OPEN_READONLY, sqliteDriver } from '../../store/sqlite-driver.ts';
import { globalsOf, load, output, redactUrl, type CliIo } from './context.ts';

/** Keys whose values are never printed. */
const SECRET = /(^secrets\.|\.pass$|^metrics\.token$|client_secret|\.headers\.)/;

type Source = 'file' | 'default' | `env ${string}`;

interface Leaf { path: string; value: unknown; source: Source }

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Whether the YAML as written has a value at `path`. */
function inFile(raw: unknown, path: string[]): boolean {
  let node = raw;
  for (const key of path) {
    if (!isPlainObject(node) || !(key in node)) return false;
    node = node[key];
  }
  return true;
}

/** Every leaf of the effective config with where it came from: env, file, or default. */
export function configLeaves(loaded: LoadedConfig): Leaf[] {
  let raw: unknown = {};
  if (loaded.file) raw = readConfigFile(loaded.file);
  const leaves: Leaf[] = [];
  const walk = (node: unknown, path: string[]) => {
    if (isPlainObject(node) && Object.keys(node).length > 0 && path[0] !== 'clients') {
      for (const [k, v] of Object.entries(node)) walk(v, [...path, k]);
      return;
    }
    const dotted = path.join('.');
    const env = loaded.sources[dotted];
    const source: Source = env?.startsWith('env ') ? env : inFile(raw, path) ? 'file' : 'default';
    let value = node;
    if (SECRET.test(dotted)) {
      value = Array.isArray(node) ? `(${node.length} set)` : node ? '(set)' : '(empty)';
    } else if (dotted === 'clients' && Array.isArray(node)) {
      value = node.map((c: { client_id?: string }) => c.client_id);
    }
    leaves.push({ path: dotted, value, source });
  };
  walk(loaded.config, []);
  return leaves;
}

function show(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => String(v)).join(', ')}]`;
  if (typeof value === 'string') return value === '' ? '""' : value;
  return JSON.stringify(value);
}

const OPEN_TIMEOUT_MS = 5000;

/** Opens the database for reading only, without migrating it. */
async function openReadOnly(url: string): Promise<Sequelize> {
  if (!url.startsWith('sqlite:')) return openDatabase({ url, poolMax: 1 });
  const sequelize = new Sequelize({ dialect: 'sqlite', storage: url.slice('sqlite:'.length), logging: false, dialectModule: sqliteDriver, dialectOptions: { mode: OPEN_READONLY } });
  // OPEN_READONLY: a check must neither create the database file nor write to it.
  await sequelize.authenticate();
  return sequelize;
}

/**
 * Runs `fn` on the database opened read-only, or answers why it could not: the database may simply
 * not exist yet, and a check must neither create nor change it.
 */
async function withReadOnlyDatabase<T>(config: Config, fn: (sequelize: Sequelize) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; why: string }> {
  const where = redactUrl(config.database);
  const storage = config.database.slice('sqlite:'.length);
  if (isSqlite(config) && storage !== ':memory:' && !existsSync(storage)) return { ok: false, why: `${where} does not exist yet` };
  let sequelize: Sequelize | undefined;
  try {
    const opening = openReadOnly(config.database);
    let timer: NodeJS.Timeout | undefined;
    let timedOut = false;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        timedOut = true;
        reject(new Error(`no answer within ${OPEN_TIMEOUT_MS / 1000} s`));
      }, OPEN_TIMEOUT_MS);
    });
    // A connection that arrives after the timeout is closed, so it cannot keep the process alive.
    opening.then((late) => { if (timedOut) void late.close(); }, () => {});
    try {
      sequelize = await Promise.race([opening, timeout]);
    } finally {
      clearTimeout(timer);
    }
    return { ok: true, value: await fn(sequelize) };
  } catch (err) {
    const first = (err instanceof Error ? err.message : String(err)).split('\n')[0];
    return { ok: false, why: `${where} could not be read (${first})` };
  } finally {
    await sequelize?.close().catch(() => {});
  }
}

/**
 * `sspr.groups` names that no group in the database has. Scope compares names exactly, so a name that
 * differs only in case scopes nobody either. Every problem here is a warning: the file itself is valid,
 * and the database may simply not exist yet.
 */
async function groupWarnings(config: Config): Promise<string[]> {
  const wanted = config.sspr.groups;
  if (wanted.length === 0) return [];
  const r = await withReadOnlyDatabase(config, async (sequelize) => {
    const groups = await storeFromSequelize(sequelize).models.Group.findAll({ attributes: ['name'] });
    const names = new Set(groups.map((g) => g.name));
    const byLower = new Map(groups.map((g) => [g.name.toLowerCase(), g.name]));
    return wanted.filter((n) => !names.has(n)).map((n) => {
      const near = byLower.get(n.toLowerCase());
      return near
        ? `sspr.groups: no group named "${n}" in the database (there is "${near}"; names must match exactly)`
        : `sspr.groups: no group named "${n}" in the database; its members would not be in scope (create it: group add "${n}")`;
    });
  });
  return r.ok ? r.value : [`sspr.groups: not checked against the database: ${r.why}`];
}

/**
 * The second factor at sign-in: who needs it and who cannot give one yet (they are sent to
 * registration first), read from the database when it exists; warnings for a policy nobody can meet.
 */
async function mfaCheck(config: Config): Promise<{ warnings: string[]; required: string[] | null; cannotSatisfy: string[] | null }> {
  const { mfa } = config;
  if (mfa.required_for === 'none') return { warnings: [], required: [], cannotSatisfy: [] };
  const warnings: string[] = [];
  const registrable = new Set<string>(METHOD_TYPES);
  const usable = mfa.methods.filter((m) => registrable.has(m));
  if (usable.length === 0) warnings.push(`mfa.methods: none of ${mfa.methods.join(', ')} can be registered here: nobody could give a second factor`);
  if (mfa.methods.includes('email') && mfa.methods.length === 1) warnings.push('mfa.methods: email alone is a weak second factor when the mailbox shares the password');
  const r = await withReadOnlyDatabase(config, async (sequelize) => {
    const standings = await loadStandings({ store: storeFromSequelize(sequelize), policy: config.sspr, mfa, now: new Date() });
    return scopeReport(standings).mfa;
  });
  if (!r.ok) {
    warnings.push(`mfa: users not checked against the database: ${r.why}`);
    return { warnings, required: null, cannotSatisfy: null };
  }
  return { warnings, ...r.value };
}

/**
 * WebAuthn names the relying party by host name: browsers refuse an IP address as rpId, so passkeys
 * enabled on an issuer like http://127.0.0.1:3000 can never be created or used.
 */
export function passkeyIssuerWarning(config: { issuer: string; sspr: { methods: readonly string[] } }): string | null {
  if (!config.sspr.methods.includes('passkey')) return null;
  const host = new URL(config.issuer).hostname.replace(/^\[|\]$/g, '');
  return isIP(host) ? `sspr.methods: passkey needs an issuer with a host name; browsers refuse the IP address ${host} as a passkey's relying party` : null;
}

export function registerConfigCommands(program: Command, io: CliIo): void {
  const config = program.command('config').description('the configuration file');

  config
    .command('check')
    .description('validate the config file; print the effective SSPR policy and where each value came from')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      // Never writes generated secrets: a check must not change anything.
      let loaded = load(io, g, false);
      const warnings = [...loaded.warnings];
      const { secrets } = loaded.config;
      if (secrets.cookie_keys.length === 0 || secrets.encryption_keys.length === 0) {
        // With PostgreSQL the loader refuses missing secrets; with SQLite they are generated on first start.
        if (!isSqlite(loaded.config)) loaded = load(io, g, true);
        else warnings.push('secrets: not set; generated on first start and kept beside the SQLite database');
      }
      warnings.push(...await groupWarnings(loaded.config));
      const mfa = await mfaCheck(loaded.config);
      warnings.push(...mfa.warnings);
      const passkeyWarning = passkeyIssuerWarning(loaded.config);
      if (passkeyWarning) warnings.push(passkeyWarning);
      const leaves = configLeaves(loaded);
      const policy = leaves.filter((l) => l.path.startsWith('sspr.'));
      const mfaLeaves = leaves.filter((l) => l.path.startsWith('mfa.'));
      const other = leaves.filter((l) => !l.path.startsWith('sspr.') && !l.path.startsWith('mfa.'));
      const width = Math.max(...leaves.map((l) => l.path.length));
      const line = (l: Leaf) => `  ${l.path.padEnd(width)}  ${show(l.value)}  (${l.source})`;
      const json = {
        file: loaded.file,
        valid: true,
        warnings,
        sspr: loaded.config.sspr,
        mfa: { ...loaded.config.mfa, users_required: mfa.required, users_cannot_satisfy: mfa.cannotSatisfy },
        values: Object.fromEntries(leaves.map((l) => [l.path, { value: l.value, source: l.source }])),
      };
      output(io, g, json, [
        `config ${loaded.file ?? '(no file: defaults and environment)'}: valid`,
        ...warnings.map((w) => `warning: ${w}`),
        'SSPR policy:',
        ...policy.map(line),
        'MFA policy (second factor at sign-in):',
        ...mfaLeaves.map(line),
        ...(mfa.required === null ? [] : mfaLines(loaded.config.mfa, { required: mfa.required, cannotSatisfy: mfa.cannotSatisfy ?? [] }).map((l) => `  ${l}`)),
        'Other values:',
        ...other.map(line),
      ]);
    });
}
