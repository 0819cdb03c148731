/**
 * A session busy during the reset does not survive it (issue 16, item 2). The attacker holds a
 * session and keeps it busy with `prompt=none` authorization requests in three loops while the
 * victim submits the new password. oidc-provider saves the session at the end of each request, so a
 * request that loaded it before the reset's delete writes the row back after it; only the
 * credentials-epoch check at use keeps that row from signing anyone in. Runs on SQLite (one
 * instance) and on PostgreSQL with the loops on a second instance.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { resetUpToNewPassword, signedIn, silentAuthorizeUrl, submitNewPassword } from '../support/attacker.ts';
import { Browser } from '../support/browser.ts';
import { captureCodes } from '../support/codes.ts';
import { createPostgresDatabase, createSqliteDatabase, postgresAvailable, type TestDatabase } from '../support/db.ts';
import { signIn } from '../support/oidc.ts';
import { freePort, startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

const LOOPS = 3;
/**
 * Rounds, each with a fresh account. With the epoch check taken out the attacker kept the session in
 * every round tried (docs/security.md, "Mutation checks"); four make a miss very unlikely.
 */
const ROUNDS = 4;
const overrides = { sspr: { enabled_for: 'all' as const, methods: ['email' as const], require_registration_at_sign_in: false } };

interface Round { signedInAfter: boolean; consoleAfter: number }

/**
 * One round: the attacker signs in on `victimSide`, then loops on `attackerBase` (an instance's own
 * address) while the victim resets on `victimSide`.
 */
async function raceRound(victimSide: TestServer, attackerBase: string, codes: Map<string, string>, tag: string): Promise<Round> {
  const user = await seedUser(victimSide.app, { login: `race-${tag}` });
  const recovery = `${user.login}@example.net`;
  await victimSide.app.sspr.methodRepo.saveVerified({ accountId: user.id, type: 'email', target: recovery });

  const attacker = new Browser();
  const signInPage = await attacker.get(`${victimSide.issuer}/account/sign-in`);
  assert.equal((await signIn(attacker, signInPage, user.login, user.password)).status, 200);
  const base = new URL(attackerBase).origin;
  const cookies = attacker.cookies.map((c) => ({ ...c, origin: base }));
  assert.equal(await signedIn(victimSide, attacker.cookies), true, 'control: the attacker is signed in');

  const victim = new Browser();
  const passwordPage = await resetUpToNewPassword(victim, victimSide.issuer, { ...user, recovery }, codes);

  let stop = false;
  let requests = 0;
  const loops = Array.from({ length: LOOPS }, async () => {
    const b = new Browser();
    b.cookies = cookies.map((c) => ({ ...c }));
    while (!stop) {
      await b.request(silentAuthorizeUrl(victimSide.issuer, 'none', base));
      requests++;
    }
  });
  // Let the loops get going and reset while they run. They stop as the reset answers: the requests
  // still in flight then are the ones that loaded the session before it was deleted, and write it back.
  while (requests < LOOPS * 3) await new Promise((r) => setTimeout(r, 5));
  await submitNewPassword(victim, passwordPage, `sunlit harbour copper ${tag} 77`);
  stop = true;
  await Promise.all(loops);

  const attackerAfter = new Browser();
  attackerAfter.cookies = attacker.cookies.map((c) => ({ ...c }));
  return {
    signedInAfter: await signedIn(victimSide, attacker.cookies),
    consoleAfter: (await attackerAfter.get(`${victimSide.issuer}/account/security`)).status,
  };
}

async function race(victimSide: TestServer, attackerBase: string, codes: Map<string, string>, label: string): Promise<void> {
  for (let i = 0; i < ROUNDS; i++) {
    const round = await raceRound(victimSide, attackerBase, codes, `${label}-${i}`);
    assert.equal(round.signedInAfter, false, `round ${i}: the attacker's session still signs in after the reset`);
    assert.equal(round.consoleAfter, 401, `round ${i}: the attacker's session still opens /account/security`);
  }
}

describe('security: a session kept busy during the reset does not survive it', function () {
  this.timeout(120_000);

  it('SQLite, one instance: prompt=none loops during the reset leave no usable session', async () => {
    const db: TestDatabase = createSqliteDatabase();
    const srv = await startTestServer({ database: db.url, overrides });
    try {
      await race(srv, srv.issuer, captureCodes(srv.app), 'sqlite');
    } finally {
      await srv.close();
      await db.drop();
    }
  });

  it('PostgreSQL, two instances: loops on one instance while the reset runs on the other', async function () {
    if (!(await postgresAvailable())) this.skip();
    const db = await createPostgresDatabase();
    const a = await startTestServer({ database: db.url, port: await freePort(), overrides });
    const b = await startTestServer({ database: db.url, port: await freePort(), overrides: { ...overrides, issuer: a.issuer } });
    try {
      await race(a, `http://127.0.0.1:${(b.server.address() as AddressInfo).port}`, captureCodes(a.app), 'pg');
    } finally {
      await a.close();
      await b.close();
      await db.drop();
    }
  });
});
