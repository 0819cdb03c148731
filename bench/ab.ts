/**
 * A/B of two oidc-sspr builds under the harness load (one account, 4 loops, delivery configured):
 *
 *   node bench/ab.ts /path/to/other/dist/src [seconds] [loops] [userinfo]
 *
 * "A" is the other build, "B" this checkout's dist/ (`npm run build` first). Both run on their own
 * SQLite file, interleaved in ABBA slices; reported per sign-in: process CPU and main-thread CPU (the
 * hash runs on the libuv pool, so the main thread is the part a code change moves); then each
 * server's resident memory at the end and its latencies (p50, p99, worst). For finding out whether a
 * change helps on a shared machine, where throughput alone is too noisy.
 *
 * `BENCH_NODE_FLAGS` (e.g. `--perf-basic-prof`) go to both servers, as in bench/run.ts.
 *
 * With `userinfo` last: each server first signs in 200 times (offline access, so the tokens and grants
 * pile up as on a server in use), then the loops call userinfo with those access tokens at random.
 */
import { argv } from 'node:process';
import { configSchema } from '../src/config/schema.ts';
import { createPasswordHasher } from '../src/sspr/password-hash.ts';
import { startDummyDelivery } from './dummy-delivery.ts';
import { runLoad, signIn, userinfo, type TokenSet } from './load.ts';
import type { ServerStats } from './protocol.ts';
import { seedAccounts, sqliteDatabase } from './seed.ts';
import { ServerProcess } from './server-process.ts';

const [otherDist, secondsArg, loopsArg, mode] = argv.slice(2);
const userinfoMode = mode === 'userinfo';
if (!otherDist) throw new Error('usage: node bench/ab.ts <other dist/src> [seconds] [loops]');
const seconds = Number(secondsArg ?? 20);
const loops = Number(loopsArg ?? 4);
const PASSWORD = 'correct horse battery staple bench';
const hashing = configSchema.parse({}).password_hashing;
const client = { clientId: 'bench-app', clientSecret: 'bench-app-secret-0123456789', redirectUri: 'http://127.0.0.1:1/cb' };

const hash = await createPasswordHasher(hashing).hash(PASSWORD);
const delivery = await startDummyDelivery();
const subjects = await Promise.all((['A', 'B'] as const).map(async (name) => {
  const db = sqliteDatabase();
  await seedAccounts(db.url, 1, hash);
  const proc = await ServerProcess.start('sspr-server.ts', {
    database: db.url, client, cookieKeys: ['bench-cookie-key-0123456789abcdef'], hashing, logLevel: 'warn',
    delivery: { smtpPort: delivery.smtpPort, smsUrl: delivery.smsUrl }, ...(name === 'A' ? { dist: otherDist } : {}),
  }, ['--max-semi-space-size=32', ...(process.env.BENCH_NODE_FLAGS?.split(' ').filter(Boolean) ?? [])]);
  return { name, db, proc, target: { issuer: proc.issuer, ...client }, tokens: [] as TokenSet[], ops: 0, cpu: 0, main: 0, wall: 0, latencies: [] as number[] };
}));
try {
  const cpu = (s: ServerStats) => (s.cpuUserUs + s.cpuSystemUs) / 1000;
  for (const s of subjects) await runLoad(loops, 2, () => signIn(s.target, 'user0', PASSWORD).then(() => undefined));
  if (userinfoMode) for (const s of subjects) for (let i = 0; i < 200; i++) s.tokens.push(await signIn(s.target, 'user0', PASSWORD, { offline: true }));
  type Subject = typeof subjects[0];
  const op = (s: Subject) => userinfoMode
    ? () => userinfo(s.target, s.tokens[Math.floor(Math.random() * s.tokens.length)]!.access_token)
    : () => signIn(s.target, 'user0', PASSWORD).then(() => undefined);
  const unit = userinfoMode ? 'userinfo' : 'sign-in';
  const rounds = Math.max(1, Math.round(seconds / 5));
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 ? [subjects[1]!, subjects[0]!, subjects[0]!, subjects[1]!] : [subjects[0]!, subjects[1]!, subjects[1]!, subjects[0]!]) {
      const before = await s.proc.stats();
      const slice = await runLoad(loops, seconds / (2 * rounds) / 2, op(s));
      const after = await s.proc.stats();
      s.ops += slice.latencies.length;
      s.latencies.push(...slice.latencies);
      s.wall += slice.seconds;
      s.cpu += cpu(after) - cpu(before);
      s.main += (after.mainThreadUs - before.mainThreadUs) / 1000;
    }
  }
  for (const s of subjects) {
    const sorted = [...s.latencies].sort((x, y) => x - y);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(1);
    console.log(`${s.name}: RSS ${((await s.proc.stats()).rss / 1048576).toFixed(0)} MiB at the end; latency p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, worst ${at(1)} ms`);
  }
  for (const s of subjects) console.log(`${s.name}: ${s.ops} ${unit}s, ${(s.ops / s.wall).toFixed(1)}/s, CPU ${(s.cpu / s.ops).toFixed(3)} ms/${unit}, main thread ${(s.main / s.ops).toFixed(3)} ms/${unit}`);
  const [a, b] = subjects as [typeof subjects[0], typeof subjects[0]];
  console.log(`B ÷ A: CPU ${((b.cpu / b.ops) / (a.cpu / a.ops)).toFixed(3)}, main thread ${((b.main / b.ops) / (a.main / a.ops)).toFixed(3)} (difference ${((b.main / b.ops) - (a.main / a.ops)).toFixed(2)} ms)`);
} finally {
  for (const s of subjects) { await s.proc.stop(); await s.db.drop(); }
  await delivery.close();
}
