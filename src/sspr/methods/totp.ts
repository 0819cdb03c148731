import type { verify as otpVerify } from 'otplib';
import type { Clock } from '../../clock.ts';
import type { SecretBox } from '../crypto.ts';
import { CodeInvalid } from '../errors.ts';
import type { EnrolmentView, HeldSecretMethod, MethodRepository } from './types.ts';
import { lazy } from '../../lazy.ts';

const otp = lazy<typeof import('otplib')>('otplib');
const qrcode = lazy<typeof import('qrcode')>('qrcode');

/** Binds sealed TOTP secrets to their purpose: a sealed value from elsewhere does not open here. */
const AAD = 'totp-secret';
/** One 30-second step either way: phone clocks drift and people type slowly. */
const TOLERANCE_SECONDS = 30;
/** RFC 6238 as every app does it: six digits. */
const PROOF = { digits: true, maxLength: 6 } as const;

export interface TotpDeps {
  secretBox: SecretBox;
  clock: Clock;
  /** Shown in the authenticator app above the code. */
  issuerName: string;
  /** Where a proven step is recorded (compare-and-set: a replayed code loses). */
  methodRepo: Pick<MethodRepository, 'advanceTimeStep'>;
}

/** The authenticator app, and its low-level check (tests compute codes against it). */
export type TotpMethod = HeldSecretMethod & {
  /** Returns the accepted time step; throws CodeInvalid for a wrong code and for a replayed one alike. */
  verify(secretEnc: string, code: string, lastTimeStep: number | null): Promise<number>;
};

/**
 * Authenticator apps (RFC 6238: SHA-1, 6 digits, 30 s — what every app understands). A wrong code, a
 * replayed one (its step not after `lastTimeStep`) and an unreadable secret all answer CodeInvalid.
 */
export function createTotpMethod(deps: TotpDeps): TotpMethod {
  // The pending secret is kept sealed (in the flow); the page is rebuilt from it on every view.
  async function describe(secret: string, label: string): Promise<EnrolmentView> {
    const uri = otp().generateURI({ issuer: deps.issuerName, label, secret });
    const qrSvg = await qrcode().toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
    // An image (not inline SVG) so the page can give it an accessible name (alt text).
    const qrDataUri = `data:image/svg+xml;base64,${Buffer.from(qrSvg).toString('base64')}`;
    // Groups of four to read and type; drawn apart by CSS, so a copy is still the key without spaces.
    const secretGroups = secret.match(/.{1,4}/g) ?? [secret];
    return { partial: 'totp-enrol', data: { secret, uri, qrDataUri, secretGroups }, code: PROOF };
  }
  // A sealed secret nobody knows: ids that lead nowhere "check" their code against it (same work).
  let dummy: string | null = null;
  const dummySecret = () => (dummy ??= deps.secretBox.seal(otp().generateSecret(), AAD));

  async function verify(secretEnc: string, code: string, lastTimeStep: number | null): Promise<number> {
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
  }

  return {
    id: 'totp',
    kind: 'held_secret',
    registrable: true,
    provesAll: false,
    amr: ['otp'],
    proofInput: PROOF,
    describe: () => ({ masked: null }),
    async enrol(label) {
      const secret = otp().generateSecret();
      return { pending: deps.secretBox.seal(secret, AAD), view: await describe(secret, label) };
    },
    show: (pending, label) => describe(deps.secretBox.open(pending, AAD), label),
    async confirm(pending, code) {
      return { secretEnc: pending, lastTimeStep: await verify(pending, code, null) };
    },
    async prove({ stored, code }, t) {
      const secretEnc = stored?.secretEnc ?? null;
      const step = await verify(secretEnc ?? dummySecret(), code, stored?.lastTimeStep ?? null);
      // A matching dummy code (one in a million) still leads nowhere; a lost race is a replay.
      if (!stored || !(await deps.methodRepo.advanceTimeStep(stored.id, step, t))) {
        throw new CodeInvalid({ detail: 'totp: no method or replayed step' });
      }
    },
    verify,
  };
}
