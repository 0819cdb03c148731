import assert from 'node:assert/strict';
import { constantEquals, createCodeHasher, createSecretBox, randomDigits, randomId } from '../../../src/sspr/crypto.ts';

const OLD = 'old-encryption-key-0123456789';
const NEW = 'new-encryption-key-9876543210';

describe('sspr/crypto', () => {
  describe('createSecretBox', () => {
    it('round-trips and never repeats a ciphertext', () => {
      const box = createSecretBox([NEW]);
      const a = box.seal('JBSWY3DPEHPK3PXP');
      const b = box.seal('JBSWY3DPEHPK3PXP');
      assert.notEqual(a, b);
      assert.match(a, /^v1\.[\w-]+\.[\w-]+\.[\w-]+$/);
      assert.ok(!a.includes('JBSWY3DPEHPK3PXP'));
      assert.equal(box.open(a), 'JBSWY3DPEHPK3PXP');
      assert.equal(box.open(b), 'JBSWY3DPEHPK3PXP');
    });

    it('seals with the first key and opens with any configured key (rotation)', () => {
      const before = createSecretBox([OLD]);
      const after = createSecretBox([NEW, OLD]);
      const sealedOld = before.seal('secret-1');
      assert.equal(after.open(sealedOld), 'secret-1');
      assert.equal(after.needsReseal(sealedOld), true);
      const sealedNew = after.seal('secret-2');
      assert.equal(after.needsReseal(sealedNew), false);
      assert.throws(() => before.open(sealedNew), /no longer configured/);
      // The key id is derived from the key, not its position: a reordered list still opens both.
      const reordered = createSecretBox([OLD, NEW]);
      assert.equal(reordered.open(sealedNew), 'secret-2');
      assert.equal(reordered.open(sealedOld), 'secret-1');
    });

    it('refuses a tampered value, a wrong key and a wrong context', () => {
      const box = createSecretBox([NEW]);
      const sealed = box.seal('secret', 'method:1');
      const parts = sealed.split('.');
      const body = Buffer.from(parts[3], 'base64url');
      body[0] ^= 1;
      const tampered = [parts[0], parts[1], parts[2], body.toString('base64url')].join('.');
      assert.throws(() => box.open(tampered));
      assert.throws(() => box.open(sealed, 'method:2'));
      assert.throws(() => box.open(sealed));
      assert.equal(box.open(sealed, 'method:1'), 'secret');
      assert.throws(() => box.open('not-a-sealed-value'), /unknown format/);
      // Relabelling a value with another configured key's id does not get it opened.
      const both = createSecretBox([NEW, OLD]);
      const forged = [parts[0], createSecretBox([OLD]).seal('x').split('.')[1], parts[2], parts[3]].join('.');
      assert.throws(() => both.open(forged, 'method:1'), /authenticate/);
    });

    it('needs at least one key', () => {
      assert.throws(() => createSecretBox([]), /at least one/);
      assert.throws(() => createCodeHasher([]), /at least one/);
    });
  });

  describe('createCodeHasher', () => {
    const hasher = createCodeHasher([NEW, OLD]);

    it('is deterministic and keyed', () => {
      const h = hasher.hash('flow-1', 'email', '123456');
      assert.equal(h, hasher.hash('flow-1', 'email', '123456'));
      assert.match(h, /^[0-9a-f]{64}$/);
      assert.notEqual(h, createCodeHasher([OLD, NEW]).hash('flow-1', 'email', '123456'));
    });

    it('binds the code to its flow and channel', () => {
      const h = hasher.hash('flow-1', 'email', '123456');
      assert.notEqual(h, hasher.hash('flow-2', 'email', '123456'));
      assert.notEqual(h, hasher.hash('flow-1', 'sms', '123456'));
      assert.notEqual(h, hasher.hash('flow-1', 'email', '123457'));
      // Field boundaries matter: shifting characters between fields gives another hash.
      assert.notEqual(hasher.hash('ab', 'c', '1'), hasher.hash('a', 'bc', '1'));
    });

    it('compares in constant time and handles unequal lengths', () => {
      const h = hasher.hash('f', 'email', '000000');
      assert.equal(hasher.equals(h, `${h}`), true);
      assert.equal(hasher.equals(h, hasher.hash('f', 'email', '000001')), false);
      assert.equal(hasher.equals(h, h.slice(1)), false);
      assert.equal(constantEquals('', ''), true);
    });
  });

  describe('randomDigits / randomId', () => {
    it('gives n decimal digits, spread evenly', () => {
      assert.match(randomDigits(6), /^\d{6}$/);
      assert.match(randomDigits(8), /^\d{8}$/);
      assert.throws(() => randomDigits(0));
      const counts = new Array<number>(10).fill(0);
      for (const d of randomDigits(20_000)) counts[Number(d)]++;
      // Expected 2000 each; 1700..2300 is > 6 standard deviations wide, so only a skewed source fails.
      for (const c of counts) assert.ok(c > 1700 && c < 2300, `digit counts ${counts.join(',')}`);
    });

    it('gives 128-bit base64url ids', () => {
      const ids = new Set(Array.from({ length: 1000 }, () => randomId()));
      assert.equal(ids.size, 1000);
      for (const id of ids) {
        assert.match(id, /^[A-Za-z0-9_-]{22}$/);
        assert.equal(Buffer.from(id, 'base64url').length, 16);
      }
    });
  });
});
