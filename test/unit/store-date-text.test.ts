import assert from 'node:assert/strict';
import { dateParamFor, readDate, sqliteDateMs } from '../../src/store/sql.ts';

/** What Sequelize writes for a date on SQLite, and what the purge and expiry checks compare as text. */
const sequelizeText = (d: Date) => `${d.toISOString().slice(0, 23).replace('T', ' ')} +00:00`;

describe('SQLite date parameters (store/sql.ts)', () => {
  it('write exactly the text Sequelize writes, for dates over three centuries and at the edges of days, years and leap days', () => {
    const param = dateParamFor('sqlite');
    const edges = ['1970-01-01T00:00:00.000Z', '1969-12-31T23:59:59.999Z', '2000-02-29T12:34:56.789Z', '2026-12-31T23:59:59.999Z',
      '2027-01-01T00:00:00.000Z', '0000-01-01T00:00:00.000Z', '9999-12-31T23:59:59.999Z', '0001-03-01T00:00:00.001Z'];
    for (const iso of edges) assert.equal(param(new Date(iso)), sequelizeText(new Date(iso)), iso);
    // A step that is prime to every unit, over some three centuries either way of now.
    const now = Date.now();
    for (let i = -40_000; i < 40_000; i++) {
      const d = new Date(now + i * 237_912_345);
      assert.equal(param(d), sequelizeText(d));
      const next = new Date(d.getTime() + 1);
      assert.equal(param(next), sequelizeText(next));
    }
  });

  it('keeps toISOString for years outside 0000–9999, and throws on an invalid date as it does', () => {
    const param = dateParamFor('sqlite');
    for (const ms of [-62_167_219_200_001, 253_402_300_800_000, 8.64e15]) assert.equal(param(new Date(ms)), sequelizeText(new Date(ms)));
    assert.throws(() => param(new Date(Number.NaN)), RangeError);
  });

  it('passes dates through on PostgreSQL', () => {
    const d = new Date();
    assert.equal(dateParamFor('postgres')(d), d);
  });

  it('read back the time of every text written, and of the other forms SQLite rows hold, as Date parses them', () => {
    const param = dateParamFor('sqlite');
    const now = Date.now();
    for (let i = -40_000; i < 40_000; i++) {
      const d = new Date(now + i * 237_912_345);
      assert.equal(readDate(param(d) as string)?.getTime(), d.getTime());
    }
    // Not in the written form: parsed as before (ISO with T, Z, another offset, fewer digits, no millis).
    const others: [string, string][] = [
      ['2026-12-07T10:11:12.345Z', '2026-12-07T10:11:12.345Z'], ['2026-12-07 10:11:12.345 +02:00', '2026-12-07T10:11:12.345+02:00'],
      ['2026-12-07 10:11:12 +00:00', '2026-12-07T10:11:12Z'], ['2026-12-07 10:11:12.3', '2026-12-07T10:11:12.3Z']];
    for (const [text, iso] of others) {
      assert.equal(sqliteDateMs(text), null, text);
      assert.equal(readDate(text)?.getTime(), Date.parse(iso), text);
    }
    // Out of range in the written form: the fast path declines and Date's own parse decides, as before.
    for (const text of ['2026-12-07 24:00:00.000 +00:00', '2026-12-07 10:60:00.000 +00:00', '2026-13-07 10:00:00.000 +00:00',
      '2026-12-07 1a:00:00.000 +00:00', '2026-02-30 10:00:00.000 +00:00']) {
      if (!text.startsWith('2026-02-30')) assert.equal(sqliteDateMs(text), null, text);
      const asDate = Date.parse(`${text.slice(0, 10)}T${text.slice(11, 23)}+00:00`);
      if (Number.isNaN(asDate)) assert.throws(() => readDate(text), /unreadable date/, text);
      else assert.equal(readDate(text)?.getTime(), asDate, text);
    }
  });
});
