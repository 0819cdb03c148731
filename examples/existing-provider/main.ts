/**
 * Runs the example host with one demo user:
 *
 *   node examples/existing-provider/main.ts      (in this repository: npm run example)
 *
 * then open the printed URL, sign in as demo, and register a recovery method; one-time codes are
 * written as files to the printed outbox folder. PORT and DATABASE_URL (SQLite or PostgreSQL) are
 * read from the environment.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createExampleServer } from './server.ts';

const port = Number(process.env.PORT ?? 3000);
const issuer = `http://localhost:${port}`;
const dataDir = mkdtempSync(join(tmpdir(), 'oidc-sspr-example-'));

const { provider, accounts, sspr } = await createExampleServer({
  issuer,
  clients: [{ client_id: 'example-app', client_secret: 'example-app-secret', redirect_uris: [`${issuer}/cb`] }],
  sspr: {
    database: process.env.DATABASE_URL ?? `sqlite:${join(dataDir, 'sspr.sqlite')}`,
    config: {
      sspr: { enabled_for: 'all', methods: ['email', 'totp'] },
      delivery: { outbox_dir: join(dataDir, 'outbox') }, // no mail server needed: codes land in files
      secrets: { cookie_keys: ['example-cookie-key-change-me-0123456789'], encryption_keys: ['example-encryption-key-change-me-01234'] },
    },
  },
});
await accounts.add({ login: 'demo', password: 'demo password 2024', email: 'demo@example.org' });

// Stands in for the client application: shows the authorization code it would redeem.
provider.use(async (ctx, next) => {
  if (ctx.path !== '/cb') return next();
  ctx.body = ctx.query.code ? 'Signed in: the client got an authorization code.' : `Error: ${String(ctx.query.error)}`;
});

const server = provider.listen(port, () => {
  const auth = new URL('/auth', issuer);
  auth.search = new URLSearchParams({ client_id: 'example-app', response_type: 'code', scope: 'openid email', redirect_uri: `${issuer}/cb` }).toString();
  console.log(`Example host on ${issuer}; user "demo", password "demo password 2024".`);
  console.log(`Sign in: ${auth}`);
  console.log(`Codes are written to ${join(dataDir, 'outbox')}`);
});

process.once('SIGINT', async () => {
  server.close();
  await sspr.stop();
});
