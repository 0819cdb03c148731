import type { verify as otpVerify } from 'otplib';
import type { Clock } from '../../clock.ts';
import type { SecretBox } from '../crypto.ts';
import { CodeInvalid } from '../errors.ts';
import type { TotpMethod } from './types.ts';
import { lazy } from '../../lazy.ts';

const otp = lazy<typeof import('otplib')>('otplib');
const qrcode = lazy<typeof import('qrcode')>('qrcode');

/** Binds sealed TOTP secrets to their purpose: a sealed value from elsewhere does not open here. */
const AAD = 'totp-secret';
/** One 30-second step either way: phone clocks drift and people type slowly. */
const TOLERANCE_SECONDS = 30;

export interface TotpDeps {
  secretBox: SecretBox;
  clock: Clock;
  /** Shown in the authenticator app above the code. */
  issuerName: string;
}

/**
 * Authenticator apps (RFC 6238: SHA-1, 6 digits, 30 s — what every app understands). A wrong code, a
 * replayed one (its step not after `lastTimeStep`) and an unreadable secret all answer CodeInvalid.
 */
export function createTotpMethod(deps: TotpDeps): TotpMethod {
  // The pending secret is kept sealed (in the flow); the page is rebuilt from it on every view.
  async function describe(secret: string, label: string, sealed?: string) {
    const uri = otp().generateURI({ issuer: deps.issuerName, label, secret });
    const qrSvg = await qrcode().toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    return { secret, secretEnc: sealed ?? deps.secretBox.seal(secret, AAD), uri, qrSvg };
  }
  return {
    type: 'totp',
    enrol: (label) => describe(otp().generateSecret(), label),
    show: (secretEnc, label) => describe(deps.secretBox.open(secretEnc, AAD), label, secretEnc),
    async verify(secretEnc, code, lastTimeStep) {
      const token = code.normalize('NFKC').replace(/[\s-]/g, '');
      if (!/^\d{6}$/.test(token)) throw new CodeInvalid({ detail: 'totp: not six digits' });
      let secret: string;
      try {
        secret = deps.secretBox.open(secretEnc, AAD);
      } catch (err) {
        throw new CodeInvalid({ detail: `totp: secret does not open (${(err as Error).message})` });
      }
      let result: Awaited<ReturnType<typeof otpVerify>>;
      try {
        result = await otp().verify({
          secret,
          token,
          epoch: Math.floor(deps.clock.now().getTime() / 1000),
          epochTolerance: TOLERANCE_SECONDS,
          ...(lastTimeStep === null ? {} : { afterTimeStep: lastTimeStep }),
        });
      } catch (err) {
        // otplib throws when afterTimeStep lies beyond the window (the clock went back): still a refusal.
        throw new CodeInvalid({ detail: `totp: ${(err as Error).message}` });
      }
      if (!result.valid || !('timeStep' in result)) throw new CodeInvalid({ detail: 'totp: wrong or replayed code' });
      return result.timeStep;
    },
  };
}
