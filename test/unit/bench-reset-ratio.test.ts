import assert from 'node:assert/strict';
import { hashExcludedRatio } from '../../bench/reset.ts';

describe('bench: the reset ratio with hashing excluded', () => {
  it('divides what is left of each once the hashing is taken out', () => {
    assert.equal(hashExcludedRatio(60, 30, 24), '10.00');
  });

  it('gives no number when the verify timed after the load reaches the sign-in\'s whole CPU (a drifting machine)', () => {
    // The run that printed "-95.08": sign-in 48.64 ms, a verify timed 8 at once 50.08 ms.
    const text = hashExcludedRatio(136.99, 48.64, 50.08);
    assert.match(text, /^– \(the verify timed after the load, 50\.08 ms, leaves -1\.44 of the sign-in's 48\.64 ms/);
  });

  it('gives no number when less than a tenth of the sign-in is left, or the reset has nothing left', () => {
    assert.match(hashExcludedRatio(100, 40, 37), /^– /);
    assert.match(hashExcludedRatio(-3, 40, 30), /^– /);
  });
});
