import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareSqliteFiles, secureOutbox } from '../../src/file-modes.ts';

const mode = (p: string) => statSync(p).mode & 0o777;

describe('file modes of the data folder (src/file-modes.ts)', function () {
  if (process.platform === 'win32') return;
  let root: string;
  beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'oidc-sspr-fm-')); });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('creates a missing data folder 0700 and the database file 0600, whatever the umask', () => {
    const umask = process.umask(0);
    try {
      prepareSqliteFiles(join(root, 'data', 'x.sqlite'), () => {});
    } finally {
      process.umask(umask);
    }
    assert.equal(mode(join(root, 'data')), 0o700);
    assert.equal(mode(join(root, 'data', 'x.sqlite')), 0o600);
  });

  it('tightens a folder of its own, but leaves a folder that also holds other files alone, with a warning', () => {
    const own = join(root, 'own');
    mkdirSync(own);
    writeFileSync(join(own, 'x.sqlite'), '');
    writeFileSync(join(own, 'secrets.json'), '{}');
    chmodSync(own, 0o755);
    const warnings: string[] = [];
    prepareSqliteFiles(join(own, 'x.sqlite'), (m) => warnings.push(m));
    assert.equal(mode(own), 0o700);
    assert.equal(mode(join(own, 'x.sqlite')), 0o600);

    const shared = join(root, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'oidc-sspr.yaml'), 'demo: true\n');
    chmodSync(shared, 0o755);
    prepareSqliteFiles(join(shared, 'x.sqlite'), (m) => warnings.push(m));
    assert.equal(mode(shared), 0o755, 'a folder shared with other files is not changed');
    assert.equal(mode(join(shared, 'x.sqlite')), 0o600, 'our own file still is');
    assert.ok(warnings.some((w) => w.includes(shared) && /oidc-sspr\.yaml/.test(w) && /chmod 700/.test(w)), warnings.join('\n'));
  });

  it('tightens outbox message files by their name, and nothing else in that folder', () => {
    const outbox = join(root, 'outbox');
    mkdirSync(outbox);
    const message = join(outbox, '20261206T101010123Z-sms-0a1b2c3d.json');
    const other = join(outbox, 'README.txt');
    writeFileSync(message, '{}');
    writeFileSync(other, 'hello');
    chmodSync(message, 0o644);
    chmodSync(other, 0o644);
    secureOutbox(outbox, () => {});
    assert.equal(mode(message), 0o600);
    assert.equal(mode(other), 0o644);
  });
});
