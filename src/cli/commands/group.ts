import type { Command } from 'commander';
import { globalsOf, output, withSession, type CliIo } from './context.ts';

export function registerGroupCommands(program: Command, io: CliIo): void {
  const group = program.command('group').description('manage groups (sspr.enabled_for: selected scopes SSPR by group)');

  group
    .command('add')
    .description('create a group')
    .argument('<group>')
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const created = await s.accounts.addGroup(name, s.actor);
        output(io, g, { name: created.name, members: created.members }, `added group "${created.name}"`);
      });
    });

  group
    .command('list')
    .description('list groups with their member counts')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const groups = await s.accounts.listGroups();
        const width = Math.max(5, ...groups.map((x) => x.name.length));
        const text = groups.length
          ? [`${'GROUP'.padEnd(width)}  MEMBERS`, ...groups.map((x) => `${x.name.padEnd(width)}  ${x.members}`)]
          : ['no groups'];
        output(io, g, groups.map((x) => ({ name: x.name, members: x.members })), text);
      });
    });

  group
    .command('add-member')
    .description('add a user to a group')
    .argument('<group>')
    .argument('<login>')
    .action(async (name: string, login: string, _opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const r = await s.accounts.addMember(name, login, s.actor);
        const text = r.changed ? `added "${r.login}" to group "${r.group}"` : `"${r.login}" was already in group "${r.group}"`;
        output(io, g, { group: r.group, login: r.login, changed: r.changed }, text);
      });
    });

  group
    .command('remove-member')
    .description('remove a user from a group')
    .argument('<group>')
    .argument('<login>')
    .action(async (name: string, login: string, _opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const r = await s.accounts.removeMember(name, login, s.actor);
        const text = r.changed ? `removed "${r.login}" from group "${r.group}"` : `"${r.login}" was not in group "${r.group}"`;
        output(io, g, { group: r.group, login: r.login, changed: r.changed }, text);
      });
    });
}
