import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ejs from 'ejs';
import { loadViews, withLocalsAsVariables } from '../../src/interactions/views.ts';
import type { Translate } from '../../src/i18n/index.ts';

/** views.ts includes partials itself (no path look-up per include): with ejs's semantics. */
describe('views: includes', () => {
  let dir: string;
  const t: Translate = (key) => key;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'sspr-views-'));
    mkdirSync(join(dir, 'methods'));
    writeFileSync(join(dir, 'layout.ejs'), '<main lang="<%= lang %>"><%- body %></main>');
    writeFileSync(join(dir, 'page.ejs'), "<%- include('_outer', { who: 'page' }) %>|<%- include('methods/inner') %>|<%= typeof who %>");
    writeFileSync(join(dir, '_outer.ejs'), "outer(<%= who %>,<%= title %>)<%- include('_leaf', { extra: '<b>' }) %>");
    writeFileSync(join(dir, '_leaf.ejs'), 'leaf(<%= who %>,<%= extra %>)');
    writeFileSync(join(dir, 'methods', 'inner.ejs'), 'inner(<%= title %>)');
    writeFileSync(join(dir, 'broken.ejs'), "<%- include('_missing') %>");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("a partial sees its caller's locals and the data given, nested, in subfolders too; the page's own locals stay unchanged", () => {
    const views = loadViews(dir);
    const html = views.render('page', { lang: 'nl', t, title: 'T' });
    assert.equal(html, '<main lang="nl">outer(page,T)leaf(page,&lt;b&gt;)|inner(T)|undefined</main>');
  });

  it('a missing partial is a clear error naming it', () => {
    const views = loadViews(dir);
    assert.throws(() => views.render('broken', { lang: 'en', t, title: 'T' }), /no template "_missing"/);
  });
});

/** views.ts declares a template's data as variables instead of ejs's `with (locals)`: the same pages. */
describe('views: data as variables', () => {
  const template = [
    "<% var shown = (items || []).filter(function (i) { return i.on; }); %>",
    "<%= title %>|<%= typeof missing %>|<%= JSON.stringify(shown.map(function (i) { return i.name; })) %>",
    "|<%= Math.max(count, 2) %>|<%= 'name: title' %>|<%= locals.title %>|<%- \"say \\\"hi\\\" to \" + who %>",
    "<%# a comment naming nothing %>",
  ].join('');
  const data = { title: 'T<i>', items: [{ name: 'a', on: true }, { name: 'b', on: false }], count: 5, who: 'x' };

  it('renders what ejs renders with `with (locals)`: missing names undefined, globals kept, the template\'s own var, strings not read as names', () => {
    const ours = ejs.compile(withLocalsAsVariables(template), { _with: false });
    const reference = ejs.compile(template);
    assert.equal(ours(data), reference(data));
    assert.equal(ours(data), 'T&lt;i&gt;|undefined|[&#34;a&#34;]|5|name: title|T&lt;i&gt;|say "hi" to x');
  });

  it('the real views: the sign-in page and the error page render as with `with (locals)`', () => {
    const dir = join(import.meta.dirname, '../../views');
    for (const name of ['login', 'error', 'layout']) {
      const source = readFileSync(join(dir, `${name}.ejs`), 'utf8');
      const ours = ejs.compile(withLocalsAsVariables(source), { _with: false });
      const reference = ejs.compile(source);
      const include = (partial: string) => `[${partial}]`;
      const page = { include, lang: 'en', t: (key: string) => key, title: 'T', body: '<p>b</p>', action: '/a', forgotUrl: '/f', abortUrl: '/x', csrf: 'c', client: { name: 'App' }, login: 'al', messages: [], code: 'e', messageId: 'errors:generic', params: {}, links: [{ href: '/h', labelKey: 'k' }], languageLinks: { en: '/?lang=en', nl: '/?lang=nl' }, allowScripts: () => '' };
      assert.equal(ours(page), reference(page), name);
    }
  });
});
