/**
 * Bench child: oidc-sspr as `npm start` would build it (createApp with the real argon2id
 * parameters from config), SSPR off for the bench users, one first-party client (no consent page).
 * For the reset benchmark (`opts.reset`): SSPR on for everybody, the bench's throttle limits, email
 * codes into the outbox folder, and `proxy: true` so the load generator can give each flow its own
 * client IP (X-Forwarded-For). Started by bench/run.ts; not meant to be run by hand.
 */
import pino from 'pino';
import { createApp } from '../src/app.ts';
import { configSchema } from '../src/config/schema.ts';
import { freePort, readServerOptions, reportFailure, serveParent, type FromChild } from './protocol.ts';

async function main(): Promise<void> {
  const opts = readServerOptions();
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
    clients: [{
      client_id: opts.client.clientId,
      client_secret: opts.client.clientSecret,
      redirect_uris: [opts.client.redirectUri],
      first_party: true,
    }],
  });
  const app = await createApp({ config, log: pino({ level: opts.logLevel }) });
  await app.listen(port);
  serveParent(() => app.close(), app.hasher);
  process.send?.({ type: 'ready', issuer } satisfies FromChild);
}

main().catch(reportFailure);
