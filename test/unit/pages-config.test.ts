import assert from 'node:assert/strict';
import { configSchema } from '../../src/config/schema.ts';

describe('config: what pages and messages need (issue 18)', () => {
  const client = { client_id: 'app', client_secret: 'app-secret-0123456789', redirect_uris: ['https://app.example.org/cb'] };

  it('accepts client_name, logo_uri and client_uri on a client', () => {
    const c = configSchema.parse({ clients: [{ ...client, client_name: 'Expense Tracker', logo_uri: 'https://cdn.example.org/l.png', client_uri: 'https://app.example.org/' }] });
    assert.equal(c.clients[0].client_name, 'Expense Tracker');
    assert.equal(c.clients[0].logo_uri, 'https://cdn.example.org/l.png');
    assert.equal(c.clients[0].client_uri, 'https://app.example.org/');
  });

  it('refuses a logo or home page that is not a URL', () => {
    assert.throws(() => configSchema.parse({ clients: [{ ...client, logo_uri: 'logo.png' }] }));
    assert.throws(() => configSchema.parse({ clients: [{ ...client, client_uri: 'home' }] }));
  });

  it('timezone: empty (the server\'s zone) by default, an IANA zone, nothing else', () => {
    assert.equal(configSchema.parse({}).timezone, '');
    assert.equal(configSchema.parse({ timezone: 'Europe/Amsterdam' }).timezone, 'Europe/Amsterdam');
    const bad = configSchema.safeParse({ timezone: 'Mars/Olympus' });
    assert.equal(bad.success, false);
    assert.deepEqual(bad.error?.issues[0].path, ['timezone']);
  });
});
