import type { Context } from 'koa';
import type { Clock } from '../clock.ts';
import { createCsrf } from '../interactions/csrf.ts';
import { cookieNamesFor } from './cookie-names.ts';

/**
 * "Remember this browser" (`mfa.remember_days`): after a second factor, a cookie that lets this
 * browser skip the second step of the same account's later sign-ins — the password is still asked.
 *
 * The cookie holds the account id, the account's credentials epoch when it was set, its end and the
 * `amr` of the factor it stands for, MAC'd with the cookie keys (any instance verifies it; a rotated
 * key still verifies). It is refused when it is for another account, expired, forged, or from an
 * older epoch: a reset, a password change, an admin's set-password and "sign out everywhere" all move
 * the epoch (src/provider/credentials-epoch.ts), so they end every remembered browser at once. A
 * normal sign-out leaves it (as Entra's "don't ask again").
 */

export interface Remembered {
  accountId: string;
  /** The second factor's own `amr` values when it was given (`otp`, `sms`, …). */
  amr: string[];
}

export interface RememberBrowser {
  /** Sets the cookie for `days` days; no-op for 0. */
  set(ctx: Context, account: { id: string; credentialsEpoch: number }, amr: readonly string[], days: number): void;
  /** The remembered second factor when the cookie holds for this account at this epoch, else null. */
  read(ctx: Context, account: { id: string; credentialsEpoch: number }): Remembered | null;
}

const DAY_S = 86_400;
const SAFE = /^[A-Za-z0-9_-]+$/;

export function createRememberBrowser(opts: { issuer: string; cookieKeys: string[]; clock: Clock }): RememberBrowser {
  const mac = createCsrf(opts.cookieKeys);
  const name = cookieNamesFor(opts.issuer).mfaRemember;
  const binding = (payload: string) => `mfa-remember|${payload}`;
  const nowS = () => Math.floor(opts.clock.now().getTime() / 1000);

  return {
    set(ctx, account, amr, days) {
      if (!(days > 0)) return;
      const exp = nowS() + days * DAY_S;
      const factors = amr.filter((v) => SAFE.test(v) && v !== 'pwd' && v !== 'mfa');
      const payload = ['v1', account.id, String(account.credentialsEpoch), String(exp), factors.join('+')].join('.');
      ctx.cookies.set(name, `${payload}.${mac.token(binding(payload))}`, {
        httpOnly: true, sameSite: 'lax', secure: ctx.secure, signed: false, overwrite: true, path: '/', maxAge: days * DAY_S * 1000,
      });
    },

    read(ctx, account) {
      const raw = ctx.cookies.get(name, { signed: false });
      if (!raw || raw.length > 512) return null;
      const parts = raw.split('.');
      if (parts.length !== 6) return null;
      const payload = parts.slice(0, 5).join('.');
      if (!mac.verify(binding(payload), parts[5])) return null;
      const [version, accountId, epoch, exp, factors] = parts;
      if (version !== 'v1' || accountId !== account.id) return null;
      if (Number(epoch) !== account.credentialsEpoch || !(Number(exp) > nowS())) return null;
      return { accountId, amr: factors ? factors.split('+') : [] };
    },
  };
}
