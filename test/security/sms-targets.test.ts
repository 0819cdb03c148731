/**
 * Issue 16, item 8: premium-rate numbers (+31 900…, +49 900…) were accepted as SMS targets, so a
 * fraudster could register one and have every reset or notice earn them money (SMS pumping). Numbers
 * that are no handset are now refused with their own message, before any code is issued, at
 * registration and in the reset, and again by the SMS transports for numbers registered earlier.
 */
import assert from 'node:assert/strict';
import { normalizeSmsRecipient, PermanentDeliveryError } from '../../src/delivery/transports.ts';
import { Browser, inputByAutocomplete, messageIds, type Page } from '../support/browser.ts';
import { createSqliteDatabase } from '../support/db.ts';
import { relyingParty, signIn } from '../support/oidc.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { seedUser } from '../support/users.ts';

/** Premium-rate and shared-cost numbers in the countries SMS may go to by default. */
const REFUSED = [
  ['+31 900 1234567', 'premium-rate (NL 0900)'],
  ['+31 906 1234567', 'premium-rate (NL 0906)'],
  ['+49 900 1 234567', 'premium-rate (DE 0900)'],
  ['+49 180 5 123456', 'shared-cost (DE 0180)'],
  ['+32 900 12345', 'premium-rate (BE 0900)'],
] as const;

describe('Issue 16 · SMS targets: premium-rate and shared-cost numbers are refused', function () {
  const db = createSqliteDatabase();
  let srv: TestServer;
  before(async () => {
    srv = await startTestServer({
      database: db.url,
      overrides: { delivery: { outbox_dir: `${db.dir}/outbox` }, sspr: { enabled_for: 'all', methods: ['email', 'sms', 'totp'], methods_required: 1 } },
    });
  });
  after(async () => { await srv?.close(); await db.drop(); });

  async function counts() {
    const { OneTimeCode, Delivery } = srv.app.store.models;
    return { codes: await OneTimeCode.count(), messages: await Delivery.count() };
  }

  it('registration refuses premium-rate (+31 900…, +49 900…) and shared-cost numbers with a message that says why, and issues no code', async () => {
    const user = await seedUser(srv.app, { login: 'pam' });
    const b = new Browser();
    const rp = await relyingParty(srv.issuer);
    const landed = await signIn(b, (await rp.start(b)).page, user.login, user.password);
    assert.match(landed.url, /\/register$/, 'asked to register');
    const target = await b.submit(landed, { method: 'sms' }, { actionPart: '/method' });
    const before = await counts();
    for (const [number, kind] of REFUSED) {
      const refused = await b.submit(target, { [inputByAutocomplete(target.html, 'tel')]: number }, { actionPart: '/target' });
      assert.equal(refused.status, 400, `${kind}: refused`);
      assert.deepEqual(messageIds(refused.html), ['registration:errors.phone_not_mobile'], `${kind}: the message names the problem`);
      assert.match(refused.html, /premium-rate/);
    }
    assert.deepEqual(await counts(), before, 'no code issued, nothing queued');

    // A mobile number in the same countries still works.
    const ok = await b.submit(target, { [inputByAutocomplete(target.html, 'tel')]: '+31 6 12345678' }, { actionPart: '/target' });
    assert.equal(ok.status, 200);
    assert.match(ok.html, /autocomplete="one-time-code"/);
  });

  it('the reset refuses a premium-rate number typed as the registered one, the same for every identifier', async () => {
    const before = await counts();
    for (const login of ['pam', 'nobody-at-all']) {
      const b = new Browser();
      const submit = (page: Page, values: Record<string, string>) => b.submit(page, values);
      const first = await b.get(`${srv.issuer}/reset`);
      const method = await submit(first, { [inputByAutocomplete(first.html, 'username')]: login });
      const target = await submit(method, { method: 'sms' });
      const refused = await submit(target, { target: '+49 900 1 234567' });
      assert.equal(refused.status, 400);
      assert.deepEqual(messageIds(refused.html), ['errors:sspr.number_not_mobile']);
    }
    assert.deepEqual(await counts(), before, 'no code issued, nothing queued');
  });

  it('the SMS transports refuse them too, for numbers registered before the rule, naming the type but not the number', () => {
    const policy = { allowedCountries: ['NL', 'BE', 'DE'], defaultRegion: 'NL' };
    for (const [number] of REFUSED) {
      assert.throws(() => normalizeSmsRecipient(number, policy), (err: unknown) => {
        assert.ok(err instanceof PermanentDeliveryError);
        assert.match(err.message, /(PREMIUM_RATE|SHARED_COST) number in (NL|DE|BE) cannot receive codes/);
        assert.doesNotMatch(err.message, /\d{5}/, 'the number is not in the message (it reaches the audit log)');
        return true;
      });
    }
    // Other numbers that are no handset: toll-free, landline, VoIP.
    for (const number of ['+31 800 1234', '+31 20 1234567', '+31 85 1234567']) assert.throws(() => normalizeSmsRecipient(number, policy), PermanentDeliveryError);
    assert.equal(normalizeSmsRecipient('06 12345678', policy), '+31612345678');
    assert.equal(normalizeSmsRecipient('+49 1512 3456789', policy), '+4915123456789');
  });
});
