/**
 * Summarises a V8 `.cpuprofile` (from `node --cpu-prof`): self time per function and per module
 * (package under node_modules, our src/ file, or node internals), as shares of the busy time
 * (sampled time minus "(idle)"). Only the main JS thread is sampled: argon2 and sqlite3's statement
 * execution run on the libuv pool and are not in it; "(program)" is native work on the main thread
 * outside JS (for oidc-sspr mostly sqlite3's row conversion and N-API calls).
 *
 *   node bench/profile-summary.ts bench/profiles/<run>/<file>.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface CpuProfile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

export interface ProfileSummary {
  totalMs: number;
  /** Sampled time minus "(idle)": the shares below are of this. */
  busyMs: number;
  functions: { name: string; where: string; ms: number; share: number }[];
  modules: { module: string; ms: number; share: number }[];
}

function moduleOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native / V8)';
  const nm = url.lastIndexOf('/node_modules/');
  if (nm !== -1) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (url.startsWith('node:')) return 'node internals';
  const src = url.indexOf('/src/');
  if (src !== -1) return url.slice(src + 1).replace(/^file:\/\//, '');
  const bench = url.indexOf('/bench/');
  if (bench !== -1) return url.slice(bench + 1);
  return url;
}

export function summariseProfile(path: string, top = 20): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const totalUs = [...selfUs.values()].reduce((a, b) => a + b, 0);
  let idleUs = 0;
  for (const [id, us] of selfUs) if (byId.get(id)!.callFrame.functionName === '(idle)') idleUs += us;
  const busyUs = totalUs - idleUs;
  const fn = new Map<string, { name: string; where: string; us: number }>();
  const mod = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const { callFrame } = byId.get(id)!;
    if (callFrame.functionName === '(idle)') continue;
    const name = callFrame.functionName || '(anonymous)';
    const file = callFrame.url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(src|bench)\//, '$1/');
    const where = callFrame.url ? `${file}:${callFrame.lineNumber + 1}` : '';
    const key = `${name}|${where}`;
    const entry = fn.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    fn.set(key, entry);
    const m = moduleOf(callFrame.url, name);
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  const share = (us: number) => (busyUs ? us / busyUs : 0);
  return {
    totalMs: totalUs / 1000,
    busyMs: busyUs / 1000,
    functions: [...fn.values()].sort((a, b) => b.us - a.us).slice(0, top).map((f) => ({ name: f.name, where: f.where, ms: f.us / 1000, share: share(f.us) })),
    modules: [...mod.entries()].sort((a, b) => b[1] - a[1]).slice(0, top).map(([module, us]) => ({ module, ms: us / 1000, share: share(us) })),
  };
}

export function formatSummary(title: string, s: ProfileSummary, top = 15): string {
  const pct = (x: number) => `${(x * 100).toFixed(1)} %`;
  const lines = [
    `#### ${title} — main thread busy ${(s.busyMs / 1000).toFixed(1)} s of ${(s.totalMs / 1000).toFixed(1)} s sampled (shares are of the busy time)`,
    '',
    '| self time by module | ms | share |',
    '|---|---:|---:|',
    ...s.modules.slice(0, top).map((m) => `| ${m.module} | ${m.ms.toFixed(0)} | ${pct(m.share)} |`),
    '',
    '| top functions (self time) | where | ms | share |',
    '|---|---|---:|---:|',
    ...s.functions.slice(0, top).map((f) => `| ${f.name} | ${f.where} | ${f.ms.toFixed(0)} | ${pct(f.share)} |`),
  ];
  return lines.join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const [file, top] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/profile-summary.ts <file.cpuprofile> [top]');
    process.exit(2);
  }
  console.log(formatSummary(file, summariseProfile(file, Number(top ?? 20)), Number(top ?? 20)));
}
