import type { Server } from 'node:http';
import pino from 'pino';
import { createApp, type App } from '../../src/app.ts';
import type { Clock } from '../../src/clock.ts';
import { configSchema, type Config, type ConfigInput } from '../../src/config/schema.ts';
import type { Store } from '../../src/store/index.ts';
import type { Target } from '../../bench/load.ts';
import { freePort } from './port.ts';
import { seedUser } from './users.ts';

/** Re-exported: most tests take it from here with the server helpers. */
export { freePort };

export const TEST_SECRETS = {
  cookie_keys: ['test-cookie-key-0123456789abcdef'],
  encryption_keys: ['test-encryption-key-0123456789ab'],
};

/** Cheap argon2id parameters: tests exercise the logic, benchmarks measure the cost. */
export const TEST_HASHING = { memory_kib: 8192, time_cost: 1, parallelism: 1 };

export interface TestServer {
  app: App;
  server: Server;
  issuer: string;
  config: Config;
  redirectUri: string;
  close(): Promise<void>;
}

/** A real server on a random port with a confidential and a public client. */
export async function startTestServer(opts: {
  database: string;
  overrides?: Partial<ConfigInput>;
  clock?: Clock;
  store?: Store;
  port?: number;
}): Promise<TestServer> {
  const port = opts.port ?? (await freePort());
  const issuer = opts.overrides?.issuer ?? `http://127.0.0.1:${port}`;
  const redirectUri = 'http://127.0.0.1:1/cb';
  const input: ConfigInput = {
    issuer,
    port,
    database: opts.database,
    demo: false,
    secrets: TEST_SECRETS,
    password_hashing: TEST_HASHING,
    password_policy: { min_length: 12, min_strength: 2 },
    clients: [
      {
        client_id: 'test-app',
        client_secret: 'test-app-secret-0123456789',
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: ['http://127.0.0.1:1/'],
      },
      {
        client_id: 'public-app',
        token_endpoint_auth_method: 'none',
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: ['http://127.0.0.1:1/'],
      },
    ],
    ...opts.overrides,
  };
  const config = configSchema.parse(input);
  const app = await createApp({ config, clock: opts.clock, store: opts.store, log: pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) });
  const server = await app.listen(port);
  return { app, server, issuer, config, redirectUri, close: () => app.close() };
}

/**
 * The sign-in the benchmark's harness setup runs (bench/load.ts): a first-party client, SSPR applying
 * to nobody, one account (`loadtest`) signing in over and over. For the regression guards that count
 * what a sign-in does to the database.
 */
export async function startHarnessServer(opts: { database: string; store: Store }): Promise<{ srv: TestServer; target: Target; password: string }> {
  const client = { client_id: 'bench-app', client_secret: 'bench-app-secret-0123456789', redirect_uris: ['http://127.0.0.1:1/cb'], first_party: true };
  const srv = await startTestServer({ database: opts.database, store: opts.store, overrides: { sspr: { enabled_for: 'none' }, clients: [client] } });
  const target = { issuer: srv.issuer, clientId: client.client_id, clientSecret: client.client_secret, redirectUri: client.redirect_uris[0]! };
  const { password } = await seedUser(srv.app, { login: 'loadtest' });
  return { srv, target, password };
}
