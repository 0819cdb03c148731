import { Session } from 'node:inspector/promises';
import { writeFileSync } from 'node:fs';
import pino from 'pino';
import { createApp } from '../dist/src/app.js';
import { configSchema } from '../dist/src/config/schema.js';
import { signIn, type Target } from './load.ts';
import { seedAccounts, sqliteDatabase, benchLogin } from './seed.ts';
import { createPasswordHasher } from '../src/sspr/password-hash.ts';
const hashing = { memory_kib: 8192, time_cost: 1, parallelism: 1 };
const db = sqliteDatabase();
const hash = await createPasswordHasher(hashing).hash('pw-pw-pw-pw-1234');
await seedAccounts(db.url, 100, hash);
const port = 3988;
const config = configSchema.parse({ issuer: `http://127.0.0.1:${port}`, port, database: db.url, demo: false, password_hashing: hashing,
  secrets: { cookie_keys: ['x'.repeat(32)], encryption_keys: ['y'.repeat(32)] }, sspr: { enabled_for: 'none' },
  clients: [{ client_id: 'bench-app', client_secret: 'bench-app-secret-0123456789', redirect_uris: ['http://127.0.0.1:1/cb'], first_party: true }] });
const app = await createApp({ config, log: pino({ level: 'warn' }) });
await app.listen(port);
const target: Target = { issuer: `http://127.0.0.1:${port}`, clientId: 'bench-app', clientSecret: 'bench-app-secret-0123456789', redirectUri: 'http://127.0.0.1:1/cb' };
const run = (n: number) => Promise.all(Array.from({ length: 8 }, async (_, j) => { for (let i = 0; i < n; i++) await signIn(target, benchLogin((i * 8 + j) % 100), 'pw-pw-pw-pw-1234'); }));
await run(50);
const s = new Session(); s.connect();
await s.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
const N = 8 * 100;
await run(100);
const { profile } = await s.post('HeapProfiler.stopSampling') as { profile: { head: Node } };
interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const byMod = new Map<string, number>(); const byFn = new Map<string, number>();
let total = 0, client = 0;
function walk(n: Node, stack: Node[]) {
  const st = [...stack, n];
  if (n.selfSize) {
    const isClient = st.some((f) => f.callFrame.url.includes('/bench/'));
    if (isClient) client += n.selfSize; else {
      total += n.selfSize;
      // attribute to the innermost frame of ours, or module
      const mod = (f: Node) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(f.callFrame.url)?.[1] ?? (f.callFrame.url.includes('dist/src') ? 'ours:' + f.callFrame.url.replace(/.*dist\/src\//, '') : f.callFrame.url ? 'node' : '(native)');
      const m = mod(n); byMod.set(m, (byMod.get(m) ?? 0) + n.selfSize);
      const ours = [...st].reverse().find((f) => f.callFrame.url.includes('dist/src'));
      const key = ours ? `${ours.callFrame.functionName || '(anon)'} ${ours.callFrame.url.replace(/.*dist\/src\//, '')}:${ours.callFrame.lineNumber + 1}` : `(no own frame) ${m}`;
      byFn.set(key, (byFn.get(key) ?? 0) + n.selfSize);
    }
  }
  for (const c of n.children) walk(c, st);
}
walk(profile.head, []);
const top = (m: Map<string, number>, k: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([x, v]) => `${(v / N / 1024).toFixed(1).padStart(8)} KiB/sign-in  ${x}`).join('\n');
console.log(`server allocations ${(total / N / 1024).toFixed(1)} KiB per sign-in (client ${(client / N / 1024).toFixed(1)})`);
console.log(top(byMod, 20)); console.log('---'); console.log(top(byFn, 30));
await app.close();
