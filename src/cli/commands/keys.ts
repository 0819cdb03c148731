import type { Command } from 'commander';
import { loadOrCreateSigningKeys, rotateSigningKeys } from '../../provider/keys.ts';
import { globalsOf, output, withSession, type CliIo } from './context.ts';

export function registerKeysCommands(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('token signing keys (kept in the database, shared by every instance)');

  keys
    .command('rotate')
    .description('new signing keys first; the previous ones stay published so issued tokens still verify')
    .action(async (_opts: unknown, cmd: Command) => {
      const g = globalsOf(cmd);
      await withSession(io, g, async (s) => {
        const before = new Set((await loadOrCreateSigningKeys(s.store)).keys.map((k) => String(k.kid)));
        const { kids } = await rotateSigningKeys(s.store);
        const added = kids.filter((k) => !before.has(k));
        const kept = kids.filter((k) => before.has(k));
        const dropped = [...before].filter((k) => !kids.includes(k));
        // rotateSigningKeys commits its own transaction, so the event follows it: a crash in between
        // leaves a rotation without its event, never an event without a rotation. Key ids are public.
        await s.audit.record({ activity: 'admin.keys_rotated', result: 'success', actor: s.actor, details: { added, kept, dropped } });
        output(io, g, { kids, added, kept, dropped }, [
          `new signing key(s): ${added.join(', ')}`,
          `still published:    ${kept.join(', ') || '-'}`,
          ...(dropped.length ? [`retired:            ${dropped.join(', ')}`] : []),
          'running instances sign with the new key after a restart',
        ]);
      });
    });
}
