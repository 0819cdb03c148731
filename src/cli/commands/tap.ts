import type { Command } from 'commander';
import { createAccessPassService, type AccessPassService } from '../../sspr/access-pass.ts';
import { createCodeHasher, type CodeHasher } from '../../sspr/crypto.ts';
import { createAccessPassRepository } from '../../store/access-pass-repository.ts';
import { globalsOf, iso, output, UsageError, withSession, type CliIo, type CliSession } from './context.ts';

interface TapOptions {
  minutes?: string;
  reusable?: boolean;
  revoke?: boolean;
}

/**
 * A PostgreSQL config may leave encryption_keys out for commands that seal nothing; a pass hashed
 * without the server's key could never be verified, so this one names the key instead.
 */
function hasherFor(keys: string[]): CodeHasher {
  if (keys.length === 0) throw new Error('secrets.encryption_keys: required to issue or check a Temporary Access Pass (OIDC_SSPR_ENCRYPTION_KEYS)');
  return createCodeHasher(keys);
}

function accessPasses(s: CliSession): AccessPassService {
  return createAccessPassService({
    repository: createAccessPassRepository(s.store),
    clock: s.clock,
    hasher: hasherFor(s.config.secrets.encryption_keys),
    policy: s.config.sspr.temporary_access_pass,
    audit: s.audit,
  });
}

/** `--minutes` as typed; range checks belong to the service, which knows `max_minutes`. */
function minutesOf(typed: string | undefined): number | undefined {
  if (typed === undefined) return undefined;
  if (!/^\d{1,6}$/.test(typed.trim())) throw new UsageError(`--minutes: "${typed}" is not a whole number of minutes`);
  return Number(typed.trim());
}

/** `user tap <login> [--minutes N] [--reusable]` and `user tap <login> --revoke` (INTERFACE.md). */
export function registerTapCommand(user: Command, io: CliIo): void {
  user
    .command('tap')
    .description('helpdesk: issue a Temporary Access Pass (printed once) for a user who lost every method; --revoke ends every pass')
    .argument('<login>')
    .option('--minutes <n>', 'lifetime in minutes, 10 to sspr.temporary_access_pass.max_minutes (default 60)')
    .option('--reusable', 'usable until it expires (default: one use)')
    .option('--revoke', 'end every pass of the user instead of issuing one')
    .action(async (login: string, opts: TapOptions, cmd: Command) => {
      const g = globalsOf(cmd);
      if (opts.revoke && (opts.minutes !== undefined || opts.reusable)) throw new UsageError('--revoke takes no --minutes or --reusable');
      const minutes = minutesOf(opts.minutes);
      await withSession(io, g, async (s) => {
        const taps = accessPasses(s);
        if (opts.revoke) {
          // Ending passes stays possible with the feature disabled: that is when an admin wants it most.
          const user = await s.accounts.getUser(login);
          const { revoked } = await taps.revoke(user.id, { actor: s.actor, target: user.login });
          output(io, g, { login: user.login, revoked }, `revoked ${revoked} Temporary Access Pass(es) of "${user.login}"`);
          return;
        }
        // Refuse a disabled feature or a bad lifetime before saying anything about the user.
        taps.assertCanIssue(minutes);
        const user = await s.accounts.getUser(login);
        const issued = await taps.issue(user.id, { minutes, reusable: opts.reusable, actor: s.actor, target: user.login });
        const expires = iso(issued.expiresAt);
        output(io, g, { login: user.login, pass: issued.pass, expires_at: expires, one_time: issued.oneTime }, [
          `Temporary Access Pass for "${user.login}": ${issued.pass}`,
          `${issued.oneTime ? 'one use' : 'reusable'}, expires ${expires}${issued.revoked ? `; ended ${issued.revoked} older pass(es)` : ''}`,
          'It is shown only now: give it to the user, who types it on "Forgot your password?".',
        ]);
      });
    });
}
