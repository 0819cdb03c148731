import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { createPasswordHasher } from '../../../src/sspr/password-hash.ts';

// Small parameters: these tests are about which hashes count as current, not about their cost.
const configured = { memory_kib: 1024, time_cost: 2, parallelism: 1 };

describe('password hasher: needsRehash', () => {
  const hasher = createPasswordHasher(configured);

  it('keeps a hash made with the configured parameters (the sign-in fast path agrees with argon2)', async () => {
    const stored = await hasher.hash('correct horse');
    assert.equal(hasher.needsRehash(stored), false);
    assert.equal(argon2.needsRehash(stored, { memoryCost: 1024, timeCost: 2, parallelism: 1 }), false);
  });

  it('replaces a hash made with other parameters, whichever differs', async () => {
    for (const other of [{ memoryCost: 2048, timeCost: 2 }, { memoryCost: 1024, timeCost: 3 }]) {
      const stored = await argon2.hash('correct horse', { type: argon2.argon2id, parallelism: 1, ...other });
      assert.equal(hasher.needsRehash(stored), true, JSON.stringify(other));
    }
  });

  it('replaces an argon2i hash with the same numbers, and anything malformed', async () => {
    const argon2i = await argon2.hash('correct horse', { type: argon2.argon2i, memoryCost: 1024, timeCost: 2, parallelism: 1 });
    assert.equal(hasher.needsRehash(argon2i), true);
    assert.equal(hasher.needsRehash('not a hash'), true);
  });

  it('verifies what it hashed and refuses a malformed stored hash', async () => {
    const stored = await hasher.hash('correct horse');
    assert.equal(await hasher.verify(stored, 'correct horse'), true);
    assert.equal(await hasher.verify(stored, 'wrong horse'), false);
    assert.equal(await hasher.verify('$argon2id$v=19$m=1024,t=2,p=1$broken', 'correct horse'), false);
  });
});
