import type { Config } from '../config/schema.ts';
import type { DeliveryPort } from '../delivery/index.ts';
import { isLanguage, type Language } from '../i18n/index.ts';
import type { StoredMethod } from './methods/types.ts';
import type { AccountDirectory, DirectoryAccount, MethodRepository, TransactionHandle } from './ports.ts';

export interface NoticeDeps {
  config: Pick<Config, 'sspr' | 'language'>;
  delivery: DeliveryPort;
  methodRepo: MethodRepository;
  directory: AccountDirectory;
}

export interface NoticeContext {
  /** The page language of the step that caused the notice; else the user's last page language. */
  lang?: Language | null;
  time: Date;
  correlationId?: string | null;
}

export type Notices = ReturnType<typeof createNotices>;

/**
 * "Your password was changed" and friends, queued in the transaction of the change. Shared by the
 * self-service reset and the admin CLI so both tell the same people the same thing.
 */
export function createNotices(deps: NoticeDeps) {
  const { config, delivery, methodRepo, directory } = deps;
  const helpdesk = config.sspr.helpdesk.url || config.sspr.helpdesk.email || null;
  const languageOf = (account: DirectoryAccount, ctx: NoticeContext): Language =>
    ctx.lang ?? (isLanguage(account.language) ? account.language : config.language);

  /** Email and SMS methods only: TOTP has no channel to write to. */
  async function channelsOf(accountId: string, t?: TransactionHandle, only?: StoredMethod[]) {
    const methods = only ?? (await methodRepo.listVerified(accountId, t));
    return methods.filter((m): m is StoredMethod & { type: 'email' | 'sms'; target: string } => (m.type === 'email' || m.type === 'sms') && !!m.target);
  }

  return {
    /** To every registered channel of the account (also one the policy no longer allows: the owner still reads it). */
    async passwordChanged(account: DirectoryAccount, ctx: NoticeContext, t?: TransactionHandle): Promise<number> {
      if (!config.sspr.notify_users_on_reset) return 0;
      const channels = await channelsOf(account.id, t);
      for (const m of channels) {
        await delivery.enqueueMessage({
          channel: m.type, to: m.target, lang: languageOf(account, ctx), template: 'notice.password_changed',
          params: { login: account.login, time: ctx.time, name: account.name, helpdesk }, accountId: account.id, correlationId: ctx.correlationId,
        }, t);
      }
      return channels.length;
    },

    /** When an administrator's password was reset: every other administrator's email methods. */
    async adminPasswordReset(account: DirectoryAccount, ctx: NoticeContext, t?: TransactionHandle): Promise<number> {
      if (!account.isAdmin || !config.sspr.notify_admins_on_admin_reset) return 0;
      let sent = 0;
      for (const admin of (await directory.listAdmins()).filter((a) => a.id !== account.id)) {
        for (const m of (await channelsOf(admin.id, t)).filter((c) => c.type === 'email')) {
          await delivery.enqueueMessage({
            channel: 'email', to: m.target, lang: languageOf(admin, { ...ctx, lang: null }), template: 'notice.admin_password_reset',
            params: { login: account.login, time: ctx.time, name: admin.name }, accountId: admin.id, correlationId: ctx.correlationId,
          }, t);
          sent++;
        }
      }
      return sent;
    },

    /** The helpdesk forgot the user's methods: tell the channels that are being removed. */
    async methodsReset(account: DirectoryAccount, removed: StoredMethod[], ctx: NoticeContext, t?: TransactionHandle): Promise<number> {
      const channels = await channelsOf(account.id, t, removed);
      for (const m of channels) {
        await delivery.enqueueMessage({
          channel: m.type, to: m.target, lang: languageOf(account, ctx), template: 'notice.methods_reset',
          params: { login: account.login, time: ctx.time, name: account.name, helpdesk }, accountId: account.id, correlationId: ctx.correlationId,
        }, t);
      }
      return channels.length;
    },
  };
}
