import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import pino from 'pino';
import { createApp } from './app.ts';
import { ConfigError, isSqlite, loadConfig } from './config/load.ts';
import { demoClientOf, demoFollowsIssuer } from './demo/routes.ts';

// Each argon2id verify is ≈ 20–30 ms of one core with the default parameters, on libuv's thread
// pool, which is 4 threads by default whatever the machine: on more cores sign-ins would queue for
// hashing with cores idle. One thread per core (never fewer than libuv's 4, which file reads, DNS
// look-ups for delivery and async crypto share). libuv reads the variable when its first job starts
// the pool; the imports above queue none while loading. An operator's own setting wins.
process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, availableParallelism()));
// In development the outbox transport also prints each message's text (code included) on the
// console, where the README's first run looks for it; never with NODE_ENV=production.
process.env.OIDC_SSPR_OUTBOX_ECHO ??= process.env.NODE_ENV === 'production' ? '0' : '1';

/** `npm start`: load and check the config, migrate, seed the demo on an empty SQLite database, serve. */
async function main(): Promise<void> {
  const log = pino({ level: process.env.LOG_LEVEL ?? 'info' });
  let loaded;
  try {
    loaded = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`config error: ${err.message}`);
      process.exit(1);
    }
    throw err;
  }
  const demo = demoFollowsIssuer(loaded.config);
  const { config } = demo;
  for (const w of loaded.warnings) log.warn(w);
  const app = await createApp({ config, log });

  if (config.demo && isSqlite(config) && (await app.store.models.Account.count()) === 0) {
    // Through the admin service, like `user add`: the same checks, the same audit trail.
    const password = randomBytes(18).toString('base64url');
    try {
      await app.admin.addUser({ login: 'demo', email: 'demo@example.org', name: 'Demo User', password }, 'system:demo');
      console.log(`\n  Demo account (shown once): user "demo", password "${password}"\n`);
    } catch (err) {
      log.warn({ err }, 'demo account not created');
    }
  }

  await app.listen(config.port, process.env.HOST ?? '127.0.0.1');
  // One write: whoever waits for "serving" on a pipe (a supervisor, a test) gets the whole greeting.
  const next = demoClientOf(config) ? `  try it: open ${config.issuer}/demo in a browser\n` : demo.note ? `  ${demo.note}\n` : null;
  console.log([`  oidc-sspr is serving ${config.issuer}`, `  discovery: ${config.issuer}/.well-known/openid-configuration`, ...(next ? [next] : [])].join('\n'));

  const stop = async () => {
    await app.close();
    process.exit(0);
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

main().catch((err: unknown) => {
  console.error(`oidc-sspr could not start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
