import type { Command } from 'commander';
import { ACTIVITIES } from '../../audit/activities.ts';
import type { AuditEvent, AuditResult } from '../../audit/index.ts';
import { globalsOf, output, UsageError, withSession, type CliIo } from './context.ts';

/** The `audit --json` shape (INTERFACE.md) is the audit log's own event shape, plus `details` (non-secret facts such as the method type). */
export type AuditRecordJson = AuditEvent;

const COLUMNS = ['time', 'activity', 'name', 'result', 'reason', 'actor', 'target', 'client_id', 'ip', 'user_agent', 'correlation_id', 'details'] as const;
const RESULTS: readonly AuditResult[] = ['success', 'failure', 'blocked', 'info'];

/**
 * Writers never put secrets in `details`; this is the second line of defence, so a future mistake in
 * one writer does not end up in a spreadsheet.
 */
const SECRET_KEY = /pass(word)?|secret|token|otp|^code$|hash/i;

function scrub(details: Record<string, unknown> | null): Record<string, unknown> | null {
  if (!details) return null;
  return Object.fromEntries(Object.entries(details).map(([k, v]) => [k, SECRET_KEY.test(k) ? '[redacted]' : v]));
}

export function auditJson(e: AuditEvent): AuditRecordJson {
  return {
    time: e.time,
    activity: e.activity,
    name: e.name,
    result: e.result,
    reason: e.reason,
    actor: e.actor,
    target: e.target,
    client_id: e.client_id,
    ip: e.ip,
    user_agent: e.user_agent,
    correlation_id: e.correlation_id,
    details: scrub(e.details),
  };
}

/**
 * `--since`: a date (UTC midnight) or a date and time (without an offset: local time, as in
 * JavaScript). Checked strictly: `Date` alone would turn 2026-02-30 into 2 March.
 */
export function parseSince(input: string): Date {
  const m = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i.exec(input.trim());
  const bad = () => new UsageError(`--since: "${input}" is not an ISO date (e.g. 2026-01-31 or 2026-01-31T08:00:00Z)`);
  if (!m) throw bad();
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const day = new Date(Date.UTC(y, mo - 1, d));
  if (day.getUTCFullYear() !== y || day.getUTCMonth() !== mo - 1 || day.getUTCDate() !== d) throw bad();
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59)) throw bad();
  const when = new Date(input.trim());
  if (Number.isNaN(when.getTime())) throw bad();
  return when;
}

/** A known activity, any `admin.<verb>`, or a prefix ending in `*` (`sspr.reset.*`). */
function checkActivity(activity: string): string {
  if (activity in ACTIVITIES || /^admin\.[a-z_]+$/.test(activity) || /^[a-z_.]*\*$/.test(activity)) return activity;
  throw new UsageError(`--activity: unknown activity "${activity}" (use a code such as sspr.reset.completed, or a prefix such as sspr.reset.*)`);
}

function checkResult(result: string): string {
  if ((RESULTS as readonly string[]).includes(result)) return result;
  throw new UsageError(`--result: "${result}" is not one of ${RESULTS.join(', ')}`);
}

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * One CSV field (RFC 4180). User agents and typed values come from the internet: a field a
 * spreadsheet would run as a formula gets a leading apostrophe (OWASP "CSV injection").
 */
export function csvField(v: unknown): string {
  let s = cell(v);
  if (/^[=+\-@\t\r]/.test(s)) s = `'${s}`;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(records: readonly AuditRecordJson[]): string {
  const lines = [COLUMNS.join(','), ...records.map((r) => COLUMNS.map((c) => csvField(r[c])).join(','))];
  return `${lines.join('\r\n')}\r\n`;
}

/** Terminal text: no control characters from a user agent may move the cursor or recolour the screen. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** Columns padded to their widest cell; the last column is not padded. */
export function textTable(rows: string[][]): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd());
}

function auditText(records: readonly AuditRecordJson[]): string[] {
  if (records.length === 0) return ['no audit events'];
  const rows = records.map((r) => [
    r.time.replace(/\.\d{3}Z$/, 'Z'),
    r.activity,
    r.result,
    r.target ?? '-',
    r.actor ?? '-',
    r.ip ?? '-',
    r.correlation_id ? r.correlation_id.slice(0, 8) : '-',
    [r.reason, r.details ? JSON.stringify(r.details) : null].filter(Boolean).join(' ') || '-',
  ].map(printable));
  return [...textTable([['TIME', 'ACTIVITY', 'RESULT', 'TARGET', 'ACTOR', 'IP', 'FLOW', 'REASON / DETAILS'], ...rows]), `${records.length} event(s)`];
}

interface AuditOptions { since?: string; user?: string; activity?: string; result?: string; csv?: boolean }

export function registerAuditCommands(program: Command, io: CliIo): void {
  program
    .command('audit')
    .description('audit events, oldest first (filters combine); --json or --csv for tools and spreadsheets')
    .option('--since <iso-date>', 'only events at or after this date/time (e.g. 2026-01-31 or 2026-01-31T08:00:00Z)')
    .option('--user <login>', 'only events about this user')
    .option('--activity <activity>', 'an activity code (sspr.reset.completed) or a prefix (sspr.reset.*)')
    .option('--result <result>', `only this result: ${RESULTS.join(', ')}`)
    .option('--csv', 'CSV with a header row (RFC 4180)')
    .action(async (opts: AuditOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      // Usage errors before the database is touched.
      if (opts.csv && g.json) throw new UsageError('give either --json or --csv, not both');
      const since = opts.since !== undefined ? parseSince(opts.since) : undefined;
      const activity = opts.activity !== undefined ? checkActivity(opts.activity) : undefined;
      const result = opts.result !== undefined ? checkResult(opts.result) : undefined;
      await withSession(io, g, async (s) => {
        const targetAccountId = opts.user !== undefined ? (await s.accounts.getUser(opts.user)).id : undefined;
        // Unbounded: an admin asking for the trail must not silently lose its newest events.
        const events = await s.audit.query({ since, activity, result, targetAccountId, limit: Number.MAX_SAFE_INTEGER });
        const records = events.map(auditJson);
        if (opts.csv) {
          io.stdout.write(toCsv(records));
          return;
        }
        output(io, g, records, auditText(records));
      });
    });
}
