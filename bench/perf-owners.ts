/**
 * Where each server's main thread spends its CPU, from Linux `perf` samples (CPU time, kernel
 * included): the figures `--profile` cannot give. V8's profiler samples wall time, so a thread
 * preempted inside a syscall is charged for the wait, and `process.threadCpuUsage` lags by up to a
 * scheduler tick; perf's `cpu-clock` event only samples a thread while it runs.
 *
 *   BENCH_NODE_FLAGS=--perf-basic-prof node bench/run.ts --one-account --no-postgres -t 12 &
 *   sleep 3; perf record -e cpu-clock -F 2000 -a -g -o /tmp/bench.perf -- sleep 35
 *   perf script -i /tmp/bench.perf | node bench/perf-owners.ts
 *
 * Each sample goes to its "owner": the innermost frame of our own code (dist/src/… or bench/…),
 * else the npm package or category it ran in. Only seconds in which the thread was loaded (≥ 40 %
 * of its busiest second, and its neighbours too) count, so start-up and idle slices stay out. The
 * two servers are told apart by their perf map (`/tmp/perf-<pid>.map`: oidc-sspr's names dist/src).
 */
import { existsSync, readFileSync } from 'node:fs';

interface Sample { tid: string; second: number; frames: { symbol: string; dso: string }[] }

function parse(text: string): Sample[] {
  const samples: Sample[] = [];
  let current: Sample | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    if (!line.startsWith('\t') && !line.startsWith(' ')) {
      // "MainThread  6892 [000]   527.962672:     500000 cpu-clock:"
      const m = /^(.+?)\s+(\d+)\s+\[\d+\]\s+([\d.]+):/.exec(line);
      current = m && m[1]!.trim() === 'MainThread' ? { tid: m[2]!, second: Math.floor(Number(m[3])), frames: [] } : undefined;
      if (current) samples.push(current);
      continue;
    }
    const f = /^\s*[0-9a-f]+ (.*) \((.*)\)$/.exec(line);
    if (current && f) current.frames.push({ symbol: f[1]!, dso: f[2]! });
  }
  return samples;
}

function category({ symbol, dso }: { symbol: string; dso: string }): string {
  if (dso.includes('kernel')) return 'kernel';
  if (/libc\.so/.test(dso)) return 'libc';
  if (/sqlite|^wal|pcache|Btree|Vdbe|pager/i.test(symbol)) return 'SQLite (C)';
  if (/Scavenge|MarkCompact|Heap::|GC/.test(symbol)) return 'V8 garbage collector';
  if (/Builtins_|v8::/.test(symbol)) return 'V8 (builtins, runtime)';
  if (dso.startsWith('/tmp/perf-')) return 'JavaScript';
  return `native ${dso.split('/').pop()}`;
}

function owner(sample: Sample): string {
  for (const { symbol } of sample.frames) {
    const own = /(?:^|\s)(\S*?)\s+(?:file:\/\/)?\S*?\/(?:dist\/)?(src|bench)\/([^:\s]+):(\d+)/.exec(symbol);
    if (own && !symbol.includes('node_modules')) return `${own[2]}/${own[3]} ${own[1]!.replace(/^JS:[*+^~' ]*/, '') || '(anonymous)'}`;
  }
  for (const { symbol } of sample.frames) {
    const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(symbol);
    if (pkg) return `package ${pkg[1]}`;
  }
  return `(no JS of ours or a package: ${category(sample.frames[0] ?? { symbol: '', dso: '' })})`;
}

/** Which server a main thread belongs to, from its process's perf map (a main thread's tid is its pid). */
function serverOf(tid: string): string {
  const map = `/tmp/perf-${tid}.map`;
  if (!existsSync(map)) return `tid ${tid}`;
  const text = readFileSync(map, 'utf8');
  if (text.includes('/dist/src/')) return `oidc-sspr (tid ${tid})`;
  if (text.includes('bench/bare-server')) return `bare (tid ${tid})`;
  return `tid ${tid}`;
}

function steady(samples: Sample[]): Sample[] {
  const perSecond = new Map<number, number>();
  for (const s of samples) perSecond.set(s.second, (perSecond.get(s.second) ?? 0) + 1);
  const busiest = Math.max(...perSecond.values());
  const loaded = (sec: number) => (perSecond.get(sec) ?? 0) >= 0.4 * busiest;
  return samples.filter((s) => loaded(s.second) && loaded(s.second - 1) && loaded(s.second + 1));
}

function table(title: string, counts: Map<string, number>, total: number, top: number): string {
  const rows = [...counts].sort((a, b) => b[1] - a[1]).slice(0, top);
  return [`| ${title} | samples | share |`, '|---|---:|---:|', ...rows.map(([k, n]) => `| ${k} | ${n} | ${((100 * n) / total).toFixed(1)} % |`)].join('\n');
}

function main(): void {
  const samples = parse(readFileSync(0, 'utf8'));
  const byTid = new Map<string, Sample[]>();
  for (const s of samples) {
    let list = byTid.get(s.tid);
    if (!list) byTid.set(s.tid, (list = []));
    list.push(s);
  }
  const threads = [...byTid].map(([tid, all]) => ({ server: serverOf(tid), all })).filter(({ server }) => /^(oidc-sspr|bare) /.test(server));
  if (threads.length === 0) throw new Error('no samples of a bench server main thread (run the servers with --perf-basic-prof)');
  for (const { server, all } of threads) {
    const loaded = steady(all);
    const byOwner = new Map<string, number>();
    const byLeaf = new Map<string, number>();
    for (const s of loaded) {
      const o = owner(s);
      byOwner.set(o, (byOwner.get(o) ?? 0) + 1);
      const c = category(s.frames[0] ?? { symbol: '', dso: '' });
      byLeaf.set(c, (byLeaf.get(c) ?? 0) + 1);
    }
    console.log(`\n#### ${server}: ${loaded.length} samples under load (of ${all.length})\n`);
    console.log(table('where the CPU ran (leaf frame)', byLeaf, loaded.length, 12));
    console.log();
    console.log(table('owner (innermost frame of our code, else the package)', byOwner, loaded.length, 30));
  }
}

main();
