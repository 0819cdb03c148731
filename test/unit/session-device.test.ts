import assert from 'node:assert/strict';
import { coarseIp } from '../../src/provider/session-device.ts';
import { describeUserAgent } from '../../src/interactions/account-sessions.ts';
import { countryList } from '../../src/interactions/method-messages.ts';

describe('what /account/security shows of a session', () => {
  it('coarsens IPv4 to its /24 and IPv6 to its /48; anything else is nothing', () => {
    assert.equal(coarseIp('192.0.2.17'), '192.0.2.x');
    assert.equal(coarseIp('::ffff:198.51.100.200'), '198.51.100.x');
    assert.equal(coarseIp('2001:db8:abcd:12::1'), '2001:db8:abcd::/48');
    assert.equal(coarseIp('2001:db8::1'), '2001:db8:0::/48');
    assert.equal(coarseIp('::1'), '0:0:0::/48');
    assert.equal(coarseIp('not an address'), null);
    assert.equal(coarseIp(undefined), null);
  });

  it('names browser and OS from the User-Agent (bowser), with the major version only', () => {
    assert.deepEqual(describeUserAgent('Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.71 Safari/537.36'), { browser: 'Chrome 120', os: 'Windows 10' });
    assert.deepEqual(describeUserAgent('Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1'), { browser: 'Safari 17', os: 'iOS 17.1' });
    assert.deepEqual(describeUserAgent('curl/8.5.0'), { browser: null, os: null });
    assert.deepEqual(describeUserAgent(''), { browser: null, os: null });
  });

  it('lists the countries SMS may go to by name, in the page language', () => {
    assert.equal(countryList(['NL', 'BE', 'DE'], 'nl'), 'Nederland, België en Duitsland');
    assert.match(countryList(['NL', 'BE', 'DE'], 'en'), /^Netherlands, Belgium,? and Germany$/);
  });
});
