import type { Command } from 'commander';
import { loadStandings, scopeReport } from '../../audit/reports.ts';
import { textTable } from './audit.ts';
import { globalsOf, output, withSession, type CliIo } from './context.ts';

export function registerScopeCommands(program: Command, io: CliIo): void {
  program
    .command('scope')
    .description('dry run of the SSPR policy: who is in scope, and who still has to register')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const r = scopeReport(await loadStandings({ store: s.store, policy: s.config.sspr, now: s.clock.now() }));
        const json = {
          in_scope: r.inScope.map((u) => ({ login: u.login, registration_due: u.registrationDue })),
          out_of_scope: r.outOfScope,
        };
        const due = r.inScope.filter((u) => u.registrationDue !== false).length;
        const text = [
          `SSPR policy: enabled_for ${s.config.sspr.enabled_for}${s.config.sspr.enabled_for === 'selected' ? ` (groups: ${s.config.sspr.groups.join(', ') || 'none'})` : ''}; administrators always in scope`,
          `in scope: ${r.inScope.length} user(s), ${due} still to register or reconfirm`,
          ...(r.inScope.length
            ? textTable([['LOGIN', 'REGISTRATION DUE'], ...r.inScope.map((u) => [u.login, u.registrationDue === false ? 'no' : u.registrationDue])]).map((l) => `  ${l}`)
            : []),
          `out of scope: ${r.outOfScope.length} user(s)${r.outOfScope.length ? `: ${r.outOfScope.join(', ')}` : ''}`,
        ];
        output(io, g, json, text);
      });
    });
}
