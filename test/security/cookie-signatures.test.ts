/**
 * Signed cookies (the session and interaction cookies): our signer (src/provider/cookie-keys.ts)
 * stands in for keygrip. An attacker who swaps the value of a signed cookie, keeps some other
 * signature, or signs with a key the administrator removed gets nothing; cookies signed by keygrip
 * (before an upgrade) and by an older listed key (a rotation) keep working.
 */
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { CookieKeys } from '../../src/provider/cookie-keys.ts';
import { signedIn, parkSignIn, resumeSignsIn } from '../support/attacker.ts';
import { Browser } from '../support/browser.ts';
import { createSqliteDatabase, type TestDatabase } from '../support/db.ts';
import { startTestServer, TEST_SECRETS, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

// What Koa's `cookies` package uses when given a list of keys: the compatibility partner.
type KeygripCtor = new (keys: string[]) => { sign(data: string): string; index(data: string, digest: string): number };
const Keygrip = createRequire(import.meta.url)('keygrip') as KeygripCtor;

describe('signed cookies', function () {
  describe('the signer (against keygrip)', () => {
    const keys = ['newest-cookie-key-0123456789', 'older-cookie-key-0123456789'];
    const ours = new CookieKeys(keys);
    const theirs = new Keygrip(keys);
    const samples = ['_session=abc', '_interaction=' + randomBytes(16).toString('base64url'), 'ünïcödé=välue', ''];

    it('makes keygrip\'s signatures, so cookies signed before an upgrade stay valid', () => {
      for (const data of samples) {
        assert.equal(ours.sign(data), theirs.sign(data), data);
        assert.equal(ours.index(data, theirs.sign(data)), 0, data);
      }
    });

    it('knows a signature by an older listed key (rotation) and says which key made it', () => {
      const older = new Keygrip([keys[1]!]).sign('_session=abc');
      assert.equal(ours.index('_session=abc', older), 1);
      assert.equal(theirs.index('_session=abc', older), 1);
    });

    it('refuses a signature of another value, of the right length but wrong, of another length, or not a string', () => {
      const good = ours.sign('_session=alice');
      assert.equal(ours.index('_session=mallory', good), -1, 'a signature of another value');
      const flipped = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
      assert.equal(flipped.length, good.length);
      assert.equal(ours.index('_session=alice', flipped), -1, 'one character changed');
      assert.equal(ours.index('_session=alice', good + 'A'), -1, 'one character more');
      assert.equal(ours.index('_session=alice', good.slice(0, -1)), -1, 'one character less');
      assert.equal(ours.index('_session=alice', ''), -1, 'empty');
      assert.equal(ours.index('_session=alice', undefined as unknown as string), -1, 'none');
      assert.equal(ours.verify('_session=alice', good), true);
      assert.equal(ours.verify('_session=alice', flipped), false);
    });

    it('refuses a signature by a key that is no longer listed', () => {
      const removed = createHmac('sha1', 'removed-cookie-key-0123456789').update('_session=abc').digest('base64url');
      assert.equal(ours.index('_session=abc', removed), -1);
    });

    it('remembers recent signatures without letting a wrong one through, and within bounds', () => {
      const signer = new CookieKeys(keys);
      const good = signer.sign('_session=alice');
      const forged = (good[0] === 'A' ? 'B' : 'A') + good.slice(1);
      assert.equal(signer.index('_session=alice', forged), -1, 'remembered, still compared');
      assert.equal(signer.index('_session=alice', good), 0);
      // An attacker sends thousands of distinct cookies: the memory stays bounded, answers stay right.
      for (let i = 0; i < 5000; i++) assert.equal(signer.index(`_session=junk${i}`, good), -1);
      assert.equal(signer.index('_session=alice', good), 0);
      assert.equal(signer.sign('_session=alice'), theirs.sign('_session=alice'));
      const long = `_session=${'x'.repeat(5000)}`;
      assert.equal(signer.sign(long), theirs.sign(long));
      const remembered = (signer as unknown as { newest: Map<string, string> }).newest;
      assert.ok(remembered.size <= 1024, `${remembered.size} remembered`);
      assert.ok(!remembered.has(long), 'long values are not kept');
    });

    it('needs a key', () => {
      assert.throws(() => new CookieKeys([]), /at least one key/);
    });
  });

  describe('at a real server', () => {
    let db: TestDatabase;
    let srv: TestServer;
    let n = 0;
    before(async () => {
      db = createSqliteDatabase();
      srv = await startTestServer({ database: db.url, overrides: { sspr: { enabled_for: 'none' } } });
    });
    after(async () => { await srv?.close(); await db?.drop(); });

    async function signedInBrowser(): Promise<Browser> {
      const user = await seedUser(srv.app, { login: `cookie-user-${++n}` });
      const { browser, resume } = await parkSignIn(srv, user.login, user.password);
      assert.ok(await resumeSignsIn(browser, resume), 'signed in');
      assert.ok(await signedIn(srv, browser.cookies));
      return browser;
    }
    const cookie = (b: Browser, name: string) => b.cookies.find((c) => c.name === name);

    it('a session cookie swapped for another user\'s, keeping its own signature, signs nobody in', async () => {
      const alice = await signedInBrowser();
      const mallory = await signedInBrowser();
      const forged = mallory.cookies.map((c) => ({ ...c }));
      const session = forged.find((c) => c.name === '_session')!;
      session.value = cookie(alice, '_session')!.value;
      assert.notEqual(session.value, cookie(mallory, '_session')!.value);
      assert.equal(await signedIn(srv, forged), false, 'Alice\'s session under Mallory\'s signature');
      assert.ok(await signedIn(srv, mallory.cookies), 'Mallory\'s own cookies still work');
    });

    it('a session cookie signed with a key that is no longer configured signs nobody in', async () => {
      const alice = await signedInBrowser();
      const forged = alice.cookies.map((c) => ({ ...c }));
      const value = cookie(alice, '_session')!.value;
      forged.find((c) => c.name === '_session.sig')!.value = createHmac('sha1', 'a-key-the-admin-removed-0123').update(`_session=${value}`).digest('base64url');
      assert.equal(await signedIn(srv, forged), false);
    });

    it('after a key rotation (a new key first, the old one kept), a session signed by the old key still holds', async () => {
      const alice = await signedInBrowser();
      const rotated = new CookieKeys(['a-new-cookie-key-0123456789ab', ...TEST_SECRETS.cookie_keys]);
      const previous = srv.app.provider.keys;
      srv.app.provider.keys = rotated;
      try {
        assert.ok(await signedIn(srv, alice.cookies));
      } finally {
        srv.app.provider.keys = previous;
      }
    });
  });
});
