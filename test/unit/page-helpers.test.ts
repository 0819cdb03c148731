import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import type { Context } from 'koa';
import { createCsrf } from '../../src/interactions/csrf.ts';
import { languageLinks, parsedLanguageLinks } from '../../src/interactions/kit.ts';
import { fromAcceptLanguage } from '../../src/i18n/index.ts';

describe('page helpers', () => {
  it('language links: the plain-path shortcut gives what parsing the address gives, for plain and unusual addresses alike', () => {
    const addresses = [
      '/interaction/abcDEF123_-x', '/reset', '/reset/method', '/account/security', '/interaction/abc/registration/email',
      '/interaction/abc?lang=nl', '/reset?expired=1', '/reset/code?a=1&lang=en&b=2', '/a b', '/a/./b', '/a/../b', '/%7Euser', '/ü', '/a//b', '/a/', '/',
    ];
    for (const url of addresses) {
      const ctx = { method: 'GET', url, path: url.split('?')[0] } as unknown as Context;
      assert.deepEqual(languageLinks(ctx), parsedLanguageLinks(url), url);
    }
    const post = { method: 'POST', url: '/reset/code?x=1', path: '/reset/code' } as unknown as Context;
    assert.deepEqual(languageLinks(post), parsedLanguageLinks('/reset/code'));
    assert.deepEqual(languageLinks(post, '/reset/method?m=1'), parsedLanguageLinks('/reset/method?m=1'));
  });

  it('CSRF tokens: a remembered token is still bound to its binding and key, and a wrong token of the right length is refused after a hit', () => {
    const csrf = createCsrf(['new-key-0123456789abcdef', 'old-key-0123456789abcdef']);
    const older = createCsrf(['old-key-0123456789abcdef']);
    const token = csrf.token('login|uid-1');
    // The very token earlier versions made (HMAC-SHA256 under the key as text): a form open across an upgrade still posts.
    assert.equal(token, createHmac('sha256', 'new-key-0123456789abcdef').update('csrf|login|uid-1').digest('base64url'));
    assert.equal(csrf.token('login|uid-1'), token);
    assert.ok(csrf.verify('login|uid-1', token));
    assert.ok(!csrf.verify('login|uid-2', token));
    const wrong = `${token.slice(0, 42)}${token[42] === 'A' ? 'B' : 'A'}`;
    assert.ok(!csrf.verify('login|uid-1', wrong));
    // Rotation: a form rendered under the previous key still posts.
    assert.ok(csrf.verify('login|uid-3', older.token('login|uid-3')));
    assert.ok(!createCsrf(['other-key-0123456789abcd']).verify('login|uid-1', token));
    // Past the memory's bound the answers are the same.
    for (let i = 0; i < 3000; i++) csrf.token(`filler|${i}`);
    assert.ok(csrf.verify('login|uid-1', token));
    assert.ok(!csrf.verify('login|uid-1', wrong));
    const long = `ended|${'x'.repeat(400)}`;
    assert.ok(csrf.verify(long, csrf.token(long)));
  });

  it('Accept-Language: a header seen before gets the same answer, and a new one its own', () => {
    for (let round = 0; round < 2; round++) {
      assert.equal(fromAcceptLanguage('nl-NL,nl;q=0.9,en;q=0.8'), 'nl');
      assert.equal(fromAcceptLanguage('fr, en;q=0.5'), 'en');
      assert.equal(fromAcceptLanguage('fr, de'), null);
      assert.equal(fromAcceptLanguage('nl;q=0, en'), 'en');
    }
    for (let i = 0; i < 600; i++) assert.equal(fromAcceptLanguage(`x-${i}, nl`), 'nl');
  });
});
