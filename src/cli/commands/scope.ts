import type { Command } from 'commander';
import type { MfaConfig } from '../../config/schema.ts';
import { loadStandings, scopeReport } from '../../audit/reports.ts';
import { textTable } from './audit.ts';
import { globalsOf, output, withSession, type CliIo } from './context.ts';

/** Who needs a second factor at sign-in, and who cannot give one yet (registration comes first for them). */
export function mfaLines(mfa: MfaConfig, r: { required: string[]; cannotSatisfy: string[] }): string[] {
  if (mfa.required_for === 'none') return ['MFA at sign-in: off (required_for none); apps may still ask for it with acr_values'];
  const scope = mfa.required_for === 'selected' ? `selected (groups: ${mfa.groups.join(', ')})` : mfa.required_for;
  return [
    `MFA at sign-in: required_for ${scope}; administrators always; methods: ${mfa.methods.join(', ')}`,
    `  needs MFA: ${r.required.length} user(s)${r.required.length ? `: ${r.required.join(', ')}` : ''}`,
    `  cannot satisfy it yet (sent to registration first): ${r.cannotSatisfy.length} user(s)${r.cannotSatisfy.length ? `: ${r.cannotSatisfy.join(', ')}` : ''}`,
  ];
}

export function registerScopeCommands(program: Command, io: CliIo): void {
  program
    .command('scope')
    .description('dry run of the SSPR policy: who is in scope, and who still has to register')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const r = scopeReport(await loadStandings({ store: s.store, policy: s.config.sspr, mfa: s.config.mfa, now: s.clock.now() }));
        const json = {
          in_scope: r.inScope.map((u) => ({ login: u.login, registration_due: u.registrationDue })),
          out_of_scope: r.outOfScope,
          // Only when MFA is on: the shape of `scope --json` stays as INTERFACE.md names it otherwise.
          ...(s.config.mfa.required_for === 'none' ? {} : { mfa: { required_for: s.config.mfa.required_for, required: r.mfa.required, cannot_satisfy: r.mfa.cannotSatisfy } }),
        };
        const due = r.inScope.filter((u) => u.registrationDue !== false).length;
        const text = [
          `SSPR policy: enabled_for ${s.config.sspr.enabled_for}${s.config.sspr.enabled_for === 'selected' ? ` (groups: ${s.config.sspr.groups.join(', ') || 'none'})` : ''}; administrators always in scope`,
          `in scope: ${r.inScope.length} user(s), ${due} still to register or reconfirm`,
          ...(r.inScope.length
            ? textTable([['LOGIN', 'REGISTRATION DUE'], ...r.inScope.map((u) => [u.login, u.registrationDue === false ? 'no' : u.registrationDue])]).map((l) => `  ${l}`)
            : []),
          `out of scope: ${r.outOfScope.length} user(s)${r.outOfScope.length ? `: ${r.outOfScope.join(', ')}` : ''}`,
          ...mfaLines(s.config.mfa, r.mfa),
        ];
        output(io, g, json, text);
      });
    });
}
