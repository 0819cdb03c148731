import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadViews } from '../../src/interactions/views.ts';
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
