import type { Command } from 'commander';
import { loadStandings, registrationReport, usageReport, type MethodCounts } from '../../audit/reports.ts';
import { textTable } from './audit.ts';
import { globalsOf, iso, output, UsageError, withSession, yesNo, type CliIo } from './context.ts';

/** Longest window `report usage` accepts: ten years, far beyond any sensible audit retention. */
const MAX_DAYS = 3650;

function parseDays(input: string): number {
  if (!/^\d+$/.test(input.trim()) || Number(input) < 1 || Number(input) > MAX_DAYS) {
    throw new UsageError(`--days: "${input}" is not a whole number of days from 1 to ${MAX_DAYS}`);
  }
  return Number(input);
}

function counts(c: MethodCounts): string {
  return Object.entries(c).map(([m, n]) => `${m} ${n}`).join(', ');
}

function day(d: Date | null): string {
  return d ? d.toISOString().slice(0, 10) : '-';
}

export function registerReportCommands(program: Command, io: CliIo): void {
  const report = program.command('report').description('SSPR reports: who registered, who reset, what was blocked');

  report
    .command('registration')
    .description('per user in SSPR scope: registered method types, capable, reconfirm due date, last reset')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const rows = registrationReport(await loadStandings({ store: s.store, policy: s.config.sspr, now: s.clock.now() }));
        const json = rows.map((r) => ({
          login: r.login,
          admin: r.admin,
          methods: r.methods,
          capable: r.capable,
          reconfirm_due_at: iso(r.reconfirmDueAt),
          last_reset_at: iso(r.lastResetAt),
        }));
        const capable = rows.filter((r) => r.capable).length;
        const text = rows.length
          ? [
            ...textTable([
              ['LOGIN', 'ADMIN', 'METHODS', 'CAPABLE', 'RECONFIRM DUE', 'LAST RESET'],
              ...rows.map((r) => [r.login, yesNo(r.admin), r.methods.join(',') || '-', yesNo(r.capable), day(r.reconfirmDueAt), day(r.lastResetAt)]),
            ]),
            `${capable} of ${rows.length} user(s) in scope can reset their password`,
          ]
          : ['no users in SSPR scope'];
        output(io, g, json, text);
      });
    });

  report
    .command('usage')
    .description('registrations and resets by method, failures and blocks, from the audit trail')
    .option('--days <n>', 'how many days back (default 30; the audit retention bounds it)', '30')
    .action(async (opts: { days: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      const days = parseDays(opts.days);
      await withSession(io, g, async (s) => {
        const u = await usageReport({ audit: s.audit, now: s.clock.now(), days });
        const json = {
          days: u.days,
          registrations: { completed: u.registrations.completed, by_method: u.registrations.byMethod },
          resets: { completed: u.resets.completed, failed: u.resets.failed, by_method: u.resets.byMethod },
          blocks: u.blocks,
        };
        const text = [
          `SSPR usage, last ${u.days} day(s) (since ${u.since.toISOString()})`,
          `registrations completed: ${u.registrations.completed}`,
          `  methods verified:      ${counts(u.registrations.byMethod)}`,
          `resets completed:        ${u.resets.completed}`,
          `  by method:             ${counts(u.resets.byMethod)}`,
          `resets failed:           ${u.resets.failed}`,
          `blocked:                 ${u.blocks}`,
        ];
        if (days > s.config.audit.retention_days) text.push(`note: audit events older than ${s.config.audit.retention_days} day(s) are pruned (audit.retention_days)`);
        output(io, g, json, text);
      });
    });
}
