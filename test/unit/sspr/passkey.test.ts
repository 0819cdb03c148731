import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { AuditInput } from '../../../src/audit/index.ts';
import { passkeyIssuerWarning } from '../../../src/cli/commands/config.ts';
import { isSsprError } from '../../../src/sspr/errors.ts';
import { createPasskeyMethod, type PasskeyMethod } from '../../../src/sspr/methods/passkey.ts';
import { passkeyName } from '../../../src/sspr/passkeys.ts';
import { openStore, type Store } from '../../../src/store/index.ts';
import { createMethodRepository } from '../../../src/store/method-repository.ts';
import { createChallengeStore, createPasskeyRepository } from '../../../src/store/passkey-repository.ts';
import { TestClock } from '../../support/clock.ts';
import { createSqliteDatabase, type TestDatabase } from '../../support/db.ts';
import { SoftAuthenticator, userHandleOf } from '../../support/webauthn.ts';

const ISSUER = 'https://id.example.org';

describe('sspr/methods/passkey', function () {
  let db: TestDatabase;
  let store: Store;
  let clock: TestClock;
  let audited: AuditInput[];
  let passkey: PasskeyMethod;

  before(async () => {
    db = createSqliteDatabase();
    store = await openStore({ url: db.url });
  });
  after(async () => { await store?.close(); await db?.drop(); });
  beforeEach(() => {
    clock = new TestClock(new Date('2026-03-01T10:00:00Z'));
    audited = [];
    passkey = createPasskeyMethod({
      issuer: ISSUER, repo: createPasskeyRepository(store), challenges: createChallengeStore(store), clock, audit: { record: async (e) => { audited.push(e); } },
    });
  });

  /** Registers a passkey for a new account through the ceremony; returns the account id and its authenticator. */
  async function registered(): Promise<{ accountId: string; auth: SoftAuthenticator }> {
    const accountId = randomUUID();
    const auth = new SoftAuthenticator(ISSUER);
    const options = await passkey.registrationOptions({ binding: 'register|f1', accountId, login: 'ann', displayName: 'Ann' });
    assert.equal((options.rp as { id: string }).id, 'id.example.org', 'rpId: the issuer\'s host');
    assert.deepEqual(options.authenticatorSelection, { residentKey: 'preferred', userVerification: 'required', requireResidentKey: false });
    assert.equal((options.user as { id: string }).id, userHandleOf(accountId));
    await passkey.register({ binding: 'register|f1', accountId, response: JSON.stringify(auth.create(options)), name: 'Laptop' });
    return { accountId, auth };
  }

  it('stores what a passkey needs and shows it as a method of type passkey, several per account', async () => {
    const { accountId, auth } = await registered();
    const second = new SoftAuthenticator(ISSUER);
    clock.advance('1m');
    const again = await passkey.registrationOptions({ binding: 'register|f1', accountId, login: 'ann', displayName: null });
    assert.deepEqual((again.excludeCredentials as Array<{ id: string }>).map((c) => c.id), [auth.credentials[0]!.id], 'the same authenticator is not registered twice');
    await passkey.register({ binding: 'register|f1', accountId, response: JSON.stringify(second.create(again)), name: 'Phone' });
    const list = await passkey.list(accountId);
    assert.deepEqual(list.map((c) => [c.name, c.transports, c.signCount, c.lastUsedAt]), [['Laptop', ['internal'], 0, null], ['Phone', ['internal'], 0, null]]);
    assert.ok(list.every((c) => c.aaguid === '00000000-0000-0000-0000-000000000000' && c.publicKey.length > 40));
    const methods = await createMethodRepository({ store, clock }).listVerified(accountId);
    assert.deepEqual(methods.map((m) => [m.type, m.target]), [['passkey', 'Laptop'], ['passkey', 'Phone']]);
    assert.equal((await createMethodRepository({ store, clock }).remove(accountId, list[1]!.id))?.type, 'passkey');
    assert.deepEqual((await passkey.list(accountId)).map((c) => c.name), ['Laptop']);
  });

  it('challenges expire: an answer after five minutes is refused, one before is accepted', async () => {
    const { accountId, auth } = await registered();
    const options = await passkey.assertionOptions({ purpose: 'reset', binding: 'flow-1', accountId });
    clock.advance('5m');
    await assert.rejects(passkey.assert({ purpose: 'reset', binding: 'flow-1', accountId, response: JSON.stringify(auth.get(options)) }), (e: unknown) => isSsprError(e, 'code_invalid'));
    const fresh = await passkey.assertionOptions({ purpose: 'reset', binding: 'flow-1', accountId });
    clock.advance('4m');
    const used = await passkey.assert({ purpose: 'reset', binding: 'flow-1', accountId, response: JSON.stringify(auth.get(fresh)) });
    assert.equal(used.accountId, accountId);
    assert.equal(used.credential.signCount, 2, 'the count the authenticator reported (the refused answer was its first)');
    assert.ok(audited.some((e) => e.activity === 'sspr.passkey.used'));
  });

  it('a sign-in takes the account the user handle names, and only with that account\'s own credential', async () => {
    const { accountId, auth } = await registered();
    const options = await passkey.assertionOptions({ purpose: 'sign_in', binding: 'sign_in|uid1', accountId: null });
    assert.deepEqual(options.allowCredentials, []);
    assert.equal((await passkey.assert({ purpose: 'sign_in', binding: 'sign_in|uid1', response: JSON.stringify(auth.get(options)) })).accountId, accountId);
    const other = await registered();
    const next = await passkey.assertionOptions({ purpose: 'sign_in', binding: 'sign_in|uid1', accountId: null });
    await assert.rejects(passkey.assert({ purpose: 'sign_in', binding: 'sign_in|uid1', response: JSON.stringify(other.auth.get(next, { userHandle: userHandleOf(accountId) })) }), (e: unknown) => isSsprError(e, 'code_invalid'));
    await assert.rejects(passkey.assert({ purpose: 'sign_in', binding: 'sign_in|uid1', response: '{"id":1}' }), (e: unknown) => isSsprError(e, 'code_invalid'));
  });

  it('names: trimmed, bounded, control characters dropped, a default when empty', () => {
    assert.equal(passkeyName('  Laptop\u0000 ', 'Passkey'), 'Laptop');
    assert.equal(passkeyName('', 'Passkey'), 'Passkey');
    assert.equal(passkeyName('x'.repeat(500), 'Passkey').length, 60);
  });

  it('config check warns when passkeys are enabled on an issuer that is an IP address', () => {
    const methods = { methods: ['email', 'passkey'] };
    assert.match(passkeyIssuerWarning({ issuer: 'http://127.0.0.1:3000', sspr: methods }) ?? '', /^sspr\.methods: passkey needs an issuer with a host name/);
    assert.match(passkeyIssuerWarning({ issuer: 'http://[::1]:3000', sspr: methods }) ?? '', /::1/);
    assert.equal(passkeyIssuerWarning({ issuer: 'http://localhost:3000', sspr: methods }), null);
    assert.equal(passkeyIssuerWarning({ issuer: 'http://127.0.0.1:3000', sspr: { methods: ['email'] } }), null);
  });
});
