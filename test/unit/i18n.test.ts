import assert from 'node:assert/strict';
import { createTranslator, fromAcceptLanguage } from '../../src/i18n/index.ts';
import { catalogs } from '../../src/i18n/locales/index.ts';

function keys(value: unknown, prefix = ''): string[] {
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => keys(v, prefix ? `${prefix}.${k}` : k));
  return [prefix];
}

describe('language catalogs', () => {
  for (const ns of Object.keys(catalogs.en) as Array<keyof typeof catalogs.en>) {
    it(`en and nl have the same keys in "${ns}"`, () => {
      const en = keys(catalogs.en[ns]).sort();
      const nl = keys(catalogs.nl[ns]).sort();
      assert.deepEqual(en.filter((k) => !nl.includes(k)), [], 'keys missing in nl');
      assert.deepEqual(nl.filter((k) => !en.includes(k)), [], 'keys missing in en');
    });
  }
  it('has the same namespaces in both languages', () => {
    assert.deepEqual(Object.keys(catalogs.en).sort(), Object.keys(catalogs.nl).sort());
  });
  it('translates with the seed vocabulary', () => {
    const t = createTranslator();
    assert.equal(t.forLanguage('nl')('pages:login.forgot'), 'Wachtwoord vergeten?');
    assert.equal(t.forLanguage('en')('pages:login.forgot'), 'Forgot your password?');
  });
  it('a defaultValue alone is remembered per key and default, and never mixes languages or defaults', () => {
    const t = createTranslator();
    for (let round = 0; round < 2; round++) {
      assert.equal(t.forLanguage('en')('pages:login.for_client_before', { defaultValue: '' }), 'to continue to ');
      assert.equal(t.forLanguage('en')('pages:login.no_such_key', { defaultValue: '' }), '');
      assert.equal(t.forLanguage('en')('pages:login.no_such_key', { defaultValue: 'fallback' }), 'fallback');
      assert.notEqual(t.forLanguage('nl')('pages:login.for_client_before', { defaultValue: '' }), 'to continue to ');
    }
  });
  it('picks a language from Accept-Language by weight', () => {
    assert.equal(fromAcceptLanguage('de-DE,nl;q=0.8,en;q=0.5'), 'nl');
    assert.equal(fromAcceptLanguage('fr'), null);
    assert.equal(fromAcceptLanguage('en-GB;q=0.3,nl-BE;q=0.9'), 'nl');
  });
});
