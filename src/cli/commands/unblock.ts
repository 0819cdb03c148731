import type { Command } from 'commander';
import { UsageError, globalsOf, output, withSession, type CliIo } from './context.ts';

/**
 * `unblock --ip <address>`: lifts the throttles and blocks counted for one address (an IPv6
 * address: its whole /64, as they are counted), with or without an identifier. Accounts are lifted
 * with `user unblock <login>`. Audited as `admin.ip_unblocked`.
 */
export function registerUnblockCommands(program: Command, io: CliIo): void {
  program
    .command('unblock')
    .description('lift an address\'s throttles and blocks (IPv6: its /64); accounts: user unblock <login>')
    .requiredOption('--ip <address>', 'the client address, as the audit log shows it')
    .action(async (opts: { ip?: string }, cmd: Command) => {
      const g = globalsOf(cmd);
      if (!opts.ip) throw new UsageError('--ip <address> is required');
      const address = opts.ip;
      await withSession(io, g, async (s) => {
        const r = await s.accounts.unblockIp(address, s.actor);
        output(io, g, { address: r.address, removed: r.removed, changed: r.changed }, `removed ${r.removed} throttle record(s) of ${r.address}`);
      });
    });
}
