import assert from 'node:assert/strict';
import { limitClause } from '../../src/store/sql.ts';

describe('limitClause (a LIMIT written into SQL, never bound)', () => {
  it('writes whole numbers', () => {
    assert.equal(limitClause(20), 'LIMIT 20');
    assert.equal(limitClause(0), 'LIMIT 0');
  });

  it('refuses anything else with a clear error, so nothing but a number reaches the SQL', () => {
    for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 60, '5; DROP TABLE x' as unknown as number]) {
      assert.throws(() => limitClause(bad), /LIMIT must be a whole number/);
    }
  });
});
