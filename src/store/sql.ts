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
      lastText = sqliteDateText(d, ms);
      lastMs = ms;
    }
    return lastText;
  };
}

const DAY_MS = 86_400_000;
/** Years 0000–9999, which `toISOString` writes with four digits. */
const FOUR_DIGIT_YEARS = { from: Date.parse('0000-01-01T00:00:00.000Z'), to: Date.parse('9999-12-31T23:59:59.999Z') };
/**
 * Day texts by day number, and day starts by day text: a request writes and reads dates of a few
 * days (now, an hour on, tomorrow's throttle window, a grant's fortnight), which alternating in one
 * slot made `toISOString` or `Date.parse` run again for most dates (perf, under load).
 */
const DAYS_KEPT = 64;
const dayTexts = new Map<number, string>();
const dayStarts = new Map<string, number>();
const twoDigits = (n: number): string => (n < 10 ? `0${n}` : `${n}`);

/**
 * 'YYYY-MM-DD HH:MM:SS.SSS +00:00', exactly `toISOString`'s first 23 characters with a space for the T:
 * the day's part is formatted once per day (kept in `dayTexts`) and the time of day by arithmetic. `toISOString` for every
 * date was ≈ 0.5 µs each, some twenty a sign-in (perf: 25 µs a sign-in under load).
 */
function sqliteDateText(d: Date, ms: number): string {
  // Invalid dates throw (toISOString's RangeError); years outside 0000–9999 keep toISOString's own form.
  if (!(ms >= FOUR_DIGIT_YEARS.from && ms <= FOUR_DIGIT_YEARS.to)) return `${d.toISOString().slice(0, 23).replace('T', ' ')} +00:00`;
  const day = Math.floor(ms / DAY_MS);
  let dayText = dayTexts.get(day);
  if (dayText === undefined) {
    if (dayTexts.size >= DAYS_KEPT) dayTexts.clear();
    dayText = new Date(day * DAY_MS).toISOString().slice(0, 10);
    dayTexts.set(day, dayText);
  }
  let rest = ms - day * DAY_MS;
  const hours = Math.floor(rest / 3_600_000);
  rest -= hours * 3_600_000;
  const minutes = Math.floor(rest / 60_000);
  rest -= minutes * 60_000;
  const seconds = Math.floor(rest / 1000);
  const millis = rest - seconds * 1000;
  return `${dayText} ${twoDigits(hours)}:${twoDigits(minutes)}:${twoDigits(seconds)}.${millis < 10 ? '00' : millis < 100 ? '0' : ''}${millis} +00:00`;
}

const SQLITE_DATE = /^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2}(?:\.\d+)?) ?(Z|[+-]\d{2}:\d{2})?$/;

const digitAt = (v: string, i: number): number => {
  const c = v.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : Number.NaN;
};

/**
 * The time of a date text in exactly the form written here and by Sequelize on SQLite
 * ('YYYY-MM-DD HH:MM:SS.SSS +00:00'), by arithmetic; null for any other form (the caller's own parse
 * then decides). A regular expression and `new Date(text)` for each was ≈ 18 µs a sign-in under load.
 */
export function sqliteDateMs(v: string): number | null {
  if (v.length !== 30 || v[10] !== ' ' || v[13] !== ':' || v[16] !== ':' || v[19] !== '.' || !v.endsWith(' +00:00')) return null;
  const hours = digitAt(v, 11) * 10 + digitAt(v, 12);
  const minutes = digitAt(v, 14) * 10 + digitAt(v, 15);
  const seconds = digitAt(v, 17) * 10 + digitAt(v, 18);
  const millis = digitAt(v, 20) * 100 + digitAt(v, 21) * 10 + digitAt(v, 22);
  // NaN fails these too.
  if (!(hours <= 23 && minutes <= 59 && seconds <= 59 && millis >= 0)) return null;
  const dayText = v.slice(0, 10);
  let dayMs = dayStarts.get(dayText);
  if (dayMs === undefined) {
    dayMs = Date.parse(`${dayText}T00:00:00.000Z`);
    if (Number.isNaN(dayMs)) return null;
    if (dayStarts.size >= DAYS_KEPT) dayStarts.clear();
    dayStarts.set(dayText, dayMs);
  }
  return dayMs + hours * 3_600_000 + minutes * 60_000 + seconds * 1000 + millis;
}

/** A date column as plain SQL returns it: the stored text on SQLite, a Date on PostgreSQL. */
export function readDate(v: Date | string | null | undefined): Date | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return v;
  const ms = sqliteDateMs(v);
  if (ms !== null) return new Date(ms);
  const m = SQLITE_DATE.exec(v);
  const d = new Date(m ? `${m[1]}T${m[2]}${m[3] ?? 'Z'}` : v);
  if (Number.isNaN(d.getTime())) throw new Error(`unreadable date: ${v}`);
  return d;
}

/** A boolean column: 0/1 on SQLite, a boolean on PostgreSQL. */
export function readBool(v: boolean | number | string | null | undefined): boolean {
  return v === true || v === 1 || v === '1' || v === 't';
}

/**
 * `LIMIT n` written into a statement, never bound. SQLite plans a bound LIMIT by its value, and so
 * compiles the prepared statement again every time the parameter is bound (the delivery poll's
 * SELECT was parsed twice a second: test/unit/sql-no-reprepare.test.ts). Integers from our code only.
 */
export function limitClause(n: number): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`LIMIT must be a whole number, not ${n}`);
  return `LIMIT ${n}`;
}
