/**
 * Bench child: oidc-sspr as `npm start` runs it (the built dist/) (createApp with the real argon2id
 * parameters from config), SSPR off for the bench users, one first-party client (no consent page).
 * For the reset benchmark (`opts.reset`): SSPR on for everybody, the bench's throttle limits, email
 * codes into the outbox folder, and `proxy: true` so the load generator can give each flow its own
 * client IP (X-Forwarded-For). Started by bench/run.ts; not meant to be run by hand.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pino from 'pino';
import { installSqlStats } from './sql-stats.ts';
import { instrumentSteps } from './step-stats.ts';
import { currentSqlStats, reportStepStats, freePort, readServerOptions, reportFailure, serveParent, type FromChild } from './protocol.ts';

/**
 * The built JavaScript, as `npm start` runs it (`npm run bench` builds first): type stripping of the
 * sources would add its own memory and start-up work to what is measured. Falls back to the sources.
 */
async function load(dist?: string): Promise<{ createApp: typeof import('../src/app.ts').createApp; configSchema: typeof import('../src/config/schema.ts').configSchema }> {
  const built = dist ?? join(import.meta.dirname, '../dist/src');
  if (existsSync(join(built, 'app.js'))) {
    const app = (await import(pathToFileURL(join(built, 'app.js')).href)) as typeof import('../src/app.ts');
    const schema = (await import(pathToFileURL(join(built, 'config/schema.js')).href)) as typeof import('../src/config/schema.ts');
    return { createApp: app.createApp, configSchema: schema.configSchema };
  }
  const app = await import('../src/app.ts');
  const schema = await import('../src/config/schema.ts');
  return { createApp: app.createApp, configSchema: schema.configSchema };
}

async function main(): Promise<void> {
  const opts = readServerOptions();
  const { createApp, configSchema } = await load(opts.dist);
  if (opts.sqlStats) await installSqlStats(opts.dist ?? join(import.meta.dirname, '../dist/src'));
  if (!opts.database) throw new Error('sspr bench server needs a database');
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const config = configSchema.parse({
    issuer,
    port,
    database: opts.database,
    demo: false,
    secrets: { cookie_keys: opts.cookieKeys, encryption_keys: ['bench-encryption-key-0123456789abcdef'] },
    password_hashing: opts.hashing,
    ...(opts.reset
      ? { proxy: true, sspr: { enabled_for: 'all', throttle: opts.reset.throttle }, delivery: { outbox_dir: opts.reset.outboxDir } }
      : { sspr: { enabled_for: 'none' } }),
    ...(opts.delivery
      ? {
        delivery: {
          email: { transport: 'smtp', smtp: { host: '127.0.0.1', port: opts.delivery.smtpPort } },
          sms: { transport: 'http', http: { url: opts.delivery.smsUrl } },
        },
      }
      : {}),
    clients: [{
      client_id: opts.client.clientId,
      client_secret: opts.client.clientSecret,
      redirect_uris: [opts.client.redirectUri],
      first_party: true,
    }],
  });
  const app = await createApp({ config, log: pino({ level: opts.logLevel }) });
  const server = await app.listen(port);
  if (opts.steps) reportStepStats(instrumentSteps(server, currentSqlStats));
  serveParent(() => app.close(), app.hasher);
  process.send?.({ type: 'ready', issuer } satisfies FromChild);
}

main().catch(reportFailure);
