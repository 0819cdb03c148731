import type { Clock } from '../clock.ts';
import type { Transaction } from '../store/index.ts';
import type { MethodRepository } from '../sspr/methods/types.ts';
import type { Notices } from '../sspr/notices.ts';
import type { DirectoryAccount } from '../sspr/ports.ts';
import type { AdminNotice } from './accounts.ts';

/**
 * The admin service's `notify` hook over the same notices the self-service flows send, so an admin
 * reset tells the same people the same thing as a self-service one (and, for an admin's account, the
 * other admins). Queued in the change's transaction; the server's delivery worker sends them.
 */
export function adminNotifier(deps: { notices: Notices; methodRepo: MethodRepository; clock: Clock }) {
  const { notices, methodRepo, clock } = deps;
  return async (notice: AdminNotice, t: Transaction): Promise<void> => {
    const row = notice.account;
    // Groups play no part in who is told; the row is read inside the change's transaction.
    const account: DirectoryAccount = {
      id: row.id, login: row.login, email: row.email, phone: row.phone, name: row.name, isAdmin: row.isAdmin,
      disabled: row.disabled, groups: [], language: row.language, passwordChangedAt: row.passwordChangedAt,
      credentialsEpoch: row.credentialsEpoch,
    };
    const ctx = { time: clock.now() };
    if (notice.kind === 'password_reset') {
      await notices.passwordChanged(account, ctx, t);
      await notices.adminPasswordReset(account, ctx, t);
    } else {
      await notices.methodsReset(account, await methodRepo.listVerified(account.id, t), ctx, t);
    }
  };
}
