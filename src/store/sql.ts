/**
 * Helpers for the few hot statements written as plain SQL (`sequelize.query` with `$n` bind
 * parameters) instead of Model calls, so they read and write exactly what the models do.
 */

/** A date as a bind parameter. */
export type DateParam = (d: Date) => Date | string;

/**
 * SQLite has no date type: Sequelize stores 'YYYY-MM-DD HH:MM:SS.SSS +00:00' text and compares that
 * text (purges, expiry checks), so plain SQL must write exactly the same. PostgreSQL takes a Date
 * (`pg` sends it with its offset into the timestamptz column).
 */
export function dateParamFor(dialect: 'sqlite' | 'postgres'): DateParam {
  if (dialect !== 'sqlite') return (d) => d;
  // Most statements of a request pass "now": the text of the last millisecond is kept.
  let lastMs = Number.NaN;
  let lastText = '';
  return (d) => {
    const ms = d.getTime();
    if (ms !== lastMs) {
      lastText = `${d.toISOString().slice(0, 23).replace('T', ' ')} +00:00`; // throws on an invalid date, as before
      lastMs = ms;
    }
    return lastText;
  };
}

const SQLITE_DATE = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?(Z|[+-]\d{2}:\d{2})?$/;

/** A date column as plain SQL returns it: the stored text on SQLite, a Date on PostgreSQL. */
/** Stored date texts already read (an account's dates come back on every request that reads it). */
const readDates = new Map<string, number>();

export function readDate(v: Date | string | null | undefined): Date | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  const known = readDates.get(v);
  if (known !== undefined) return new Date(known);
  const m = SQLITE_DATE.exec(v);
  const d = new Date(m ? `${m[1]}T${m[2]}${m[3] ?? 'Z'}` : v);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable date: ${v}`);
  if (readDates.size >= 1024) readDates.clear();
  readDates.set(v, d.getTime());
  return d;
}

/** A boolean column: 0/1 on SQLite, a boolean on PostgreSQL. */
export function readBool(v: boolean | number | string | null | undefined): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}
