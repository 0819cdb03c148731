import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { isSqlite, type LoadedConfig } from '../../config/load.ts';
import { globalsOf, load, output, type CliIo } from './context.ts';

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
  if (loaded.file) raw = parseYaml(readFileSync(loaded.file, 'utf8')) ?? {};
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
      const leaves = configLeaves(loaded);
      const policy = leaves.filter((l) => l.path.startsWith('sspr.'));
      const other = leaves.filter((l) => !l.path.startsWith('sspr.'));
      const width = Math.max(...leaves.map((l) => l.path.length));
      const line = (l: Leaf) => `  ${l.path.padEnd(width)}  ${show(l.value)}  (${l.source})`;
      const json = {
        file: loaded.file,
        valid: true,
        warnings,
        sspr: loaded.config.sspr,
        values: Object.fromEntries(leaves.map((l) => [l.path, { value: l.value, source: l.source }])),
      };
      output(io, g, json, [
        `config ${loaded.file ?? '(no file: defaults and environment)'}: valid`,
        ...warnings.map((w) => `warning: ${w}`),
        'SSPR policy:',
        ...policy.map(line),
        'Other values:',
        ...other.map(line),
      ]);
    });
}
