import assert from 'node:assert/strict';
import argon2 from 'argon2';
import { createPasswordHasher, defaultHashConcurrency } from '../../../src/sspr/password-hash.ts';

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

describe('password hasher: hashes run a bounded number at a time', () => {
  // The attack: many sign-in posts at once. Unbounded, each starts its own memory-hard hash (19 MiB
  // at the defaults) and the process allocates them all together; bounded, the rest wait in order.
  it('never runs more hashes at once than its slots, whatever arrives together, and runs them all', async () => {
    const hasher = createPasswordHasher({ ...configured, concurrency: 2 });
    const stored = await hasher.hash('correct horse');
    let most = 0;
    let queued = 0;
    const sample = setInterval(() => {
      most = Math.max(most, hasher.hashing.busy);
      queued = Math.max(queued, hasher.hashing.waiting);
    }, 0);
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? hasher.dummyVerify('x') : hasher.verify(stored, i % 2 ? 'correct horse' : 'wrong'))));
    clearInterval(sample);
    assert.ok(most >= 1 && most <= 2, `at most 2 hashes ran at once (saw ${most})`);
    assert.ok(queued >= 8, `the rest waited for a slot (saw ${queued} waiting)`);
    assert.deepEqual(results, Array.from({ length: 12 }, (_, i) => i % 3 !== 0 && i % 2 === 1));
    assert.equal(hasher.hashing.busy, 0, 'every slot is free again');
  });

  it('frees the slot of a hash that fails (a malformed stored hash never holds a slot)', async () => {
    const hasher = createPasswordHasher({ ...configured, concurrency: 1 });
    for (let i = 0; i < 3; i++) assert.equal(await hasher.verify('$argon2id$v=19$m=1024,t=2,p=1$broken', 'x'), false);
    const stored = await hasher.hash('correct horse');
    assert.equal(await hasher.verify(stored, 'correct horse'), true);
    assert.equal(hasher.hashing.busy, 0);
  });

  it('defaults to one hash per core (fewer when each hash uses several lanes)', () => {
    assert.equal(defaultHashConcurrency(1, 2), 2);
    assert.equal(defaultHashConcurrency(1, 16), 16);
    assert.equal(defaultHashConcurrency(4, 16), 4);
    assert.equal(defaultHashConcurrency(4, 2), 1);
  });
});
