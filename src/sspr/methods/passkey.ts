import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { AuthenticationResponseJSON, RegistrationResponseJSON, WebAuthnCredential } from '@simplewebauthn/server';
import type { AuditSink, RequestContext } from '../../audit/index.ts';
import type { Clock } from '../../clock.ts';
import { CodeInvalid } from '../errors.ts';
import type { ChallengeStore, PasskeyCredential, PasskeyRepository, TransactionHandle as Transaction } from '../ports.ts';
import type { CeremonyMethod, ProofInput } from './types.ts';

/**
 * SimpleWebAuthn, loaded at the first ceremony: with its X.509 and ASN.1 packages it is ≈ 5 MiB of
 * heap that a server whose users never use a passkey would otherwise hold (and mark at every full
 * garbage collection) for its whole life; a password sign-in never needs it.
 */
let webauthnLoaded: Promise<[typeof import('@simplewebauthn/server'), typeof import('@simplewebauthn/server/helpers')]> | undefined;
const webauthn = () => (webauthnLoaded ??= Promise.all([import('@simplewebauthn/server'), import('@simplewebauthn/server/helpers')]));

/** Base64url as WebAuthn writes it, to bytes and back (what the library's own helpers do). */
const bytesOf = (b64url: string): Uint8Array<ArrayBuffer> => new Uint8Array(Buffer.from(b64url, 'base64url'));
const base64urlOf = (bytes: Uint8Array): string => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');

/**
 * Passkeys (WebAuthn, issue 20) as a method: registered with `navigator.credentials.create` (a
 * resident key preferred, user verification required), proven with `navigator.credentials.get`.
 * The relying party is the issuer: its host name is the rpId, its origin the only origin accepted.
 *
 * Every challenge is stored bound to what asked for it (a reset flow, a registration flow, an
 * interaction) and is used up by a conditional update before its answer is checked, so it works
 * once, only there, and only until it expires. Assertions ask for no particular credential
 * (allowCredentials empty, so the options say nothing about the account): the user handle the
 * authenticator returns names the account, and the credential must be one of that account's. A sign
 * count that does not move forward means a cloned authenticator: refused and audited.
 */

const CHALLENGE_MINUTES = 5;
const MINUTE = 60_000;

export type CeremonyPurpose = 'register' | 'reset' | 'sign_in';

export interface PasskeyDeps {
  issuer: string;
  repo: PasskeyRepository;
  challenges: ChallengeStore;
  clock: Clock;
  audit: AuditSink;
}

/** What a verified assertion proved. */
export interface PasskeyUse {
  accountId: string;
  credential: PasskeyCredential;
  userVerified: boolean;
}

export interface PasskeyMethod extends CeremonyMethod {
  readonly rpId: string;
  readonly origin: string;
  /** Options for `navigator.credentials.create`, bound to `binding` (the registration flow). */
  registrationOptions(input: { binding: string; accountId: string; login: string; displayName: string | null }, t?: Transaction): Promise<Record<string, unknown>>;
  /** Checks the browser's answer (JSON) and stores the new credential under `name`, in `t`. Throws CodeInvalid. */
  register(input: { binding: string; accountId: string; response: string; name: string; context?: RequestContext }, t?: Transaction): Promise<PasskeyCredential>;
  /** Options for `navigator.credentials.get`, bound to `binding`, naming no account. */
  assertionOptions(input: { purpose: 'sign_in' | 'reset'; binding: string; accountId: string | null }, t?: Transaction): Promise<Record<string, unknown>>;
  /**
   * Checks an assertion for a challenge of `purpose` bound to `binding`. `accountId`: the account it
   * must come from (reset), or undefined for any registered account (passwordless sign-in). Throws
   * CodeInvalid; refusals are audited.
   */
  assert(input: { purpose: 'sign_in' | 'reset'; binding: string; response: string; accountId?: string | null; context?: RequestContext }, t?: Transaction): Promise<PasskeyUse>;
  list(accountId: string, t?: Transaction): Promise<PasskeyCredential[]>;
  /** Deletes challenges past their expiry; returns how many. */
  purgeExpired(): Promise<number>;
  rename(accountId: string, id: string, name: string, t?: Transaction): Promise<boolean>;
}

/** A user handle is the account id's bytes: an opaque id, no login name or address. */
const userHandleOf = (accountId: string) => new TextEncoder().encode(accountId);

/** Parses the browser's JSON answer; anything malformed is a wrong answer. */
function parse<T>(json: string): T {
  try {
    const v: unknown = JSON.parse(json);
    if (!v || typeof v !== 'object' || typeof (v as { id?: unknown }).id !== 'string' || typeof (v as { response?: unknown }).response !== 'object') throw new Error('shape');
    return v as T;
  } catch {
    throw new CodeInvalid({ detail: 'passkey: malformed response' });
  }
}

/** The challenge the browser signed, read from its client data (checked again by the library). */
function challengeOf(response: { response: { clientDataJSON?: unknown } }): string {
  try {
    const raw = response.response.clientDataJSON;
    if (typeof raw !== 'string') throw new Error('no client data');
    const data = JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) as { challenge?: unknown };
    if (typeof data.challenge !== 'string' || data.challenge.length > 128) throw new Error('no challenge');
    return data.challenge;
  } catch {
    throw new CodeInvalid({ detail: 'passkey: no readable challenge' });
  }
}

/**
 * A credential no account has, checked when the answer names none of the expected account's: the
 * same signature check runs (and fails), so an unknown id or a foreign passkey costs the same.
 */
async function dummyCredential(): Promise<{ id: string; publicKey: Uint8Array<ArrayBuffer>; counter: number }> {
  const [, { isoCBOR }] = await webauthn();
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const cose = new Map<number, number | Uint8Array>([
    [1, 2], [3, -7], [-1, 1], [-2, bytesOf(jwk.x!)], [-3, bytesOf(jwk.y!)],
  ]);
  return { id: base64urlOf(new Uint8Array(16)), publicKey: new Uint8Array(isoCBOR.encode(cose)), counter: 0 };
}

export function createPasskeyMethod(deps: PasskeyDeps): PasskeyMethod {
  const url = new URL(deps.issuer);
  const rpId = url.hostname;
  const origin = url.origin;
  // Made at the first assertion, with the library.
  let dummy: ReturnType<typeof dummyCredential> | undefined;

  async function remember(challenge: string, purpose: CeremonyPurpose, binding: string, accountId: string | null, t?: Transaction): Promise<void> {
    const now = deps.clock.now();
    await deps.challenges.insert({ challenge, purpose, binding, accountId, expiresAt: new Date(now.getTime() + CHALLENGE_MINUTES * MINUTE), usedAt: null }, t);
  }

  /** Uses the challenge up (before anything is checked) and returns it; CodeInvalid when unknown, used, expired or bound elsewhere. */
  async function consume(challenge: string, purpose: CeremonyPurpose, binding: string, t?: Transaction) {
    const row = await deps.challenges.consume(challenge, purpose, binding, deps.clock.now(), t);
    if (!row) throw new CodeInvalid({ detail: `passkey: challenge not issued for this ${purpose}, used or expired` });
    return row;
  }

  async function refused(reason: string, accountId: string | null, context: RequestContext | undefined, t: Transaction | undefined, details: Record<string, unknown> = {}): Promise<never> {
    await deps.audit.record({ activity: 'sspr.passkey.refused', result: 'failure', reason, targetAccountId: accountId, context, details }, t);
    throw new CodeInvalid({ detail: `passkey refused: ${reason}` });
  }

  async function assertionOptions(input: { purpose: 'sign_in' | 'reset'; binding: string; accountId: string | null }, t?: Transaction) {
    const [{ generateAuthenticationOptions }] = await webauthn();
    // Ready before the answer comes: an unknown credential's check then costs what a known one's does.
    dummy ??= dummyCredential();
    const options = await generateAuthenticationOptions({ rpID: rpId, allowCredentials: [], userVerification: 'required', timeout: CHALLENGE_MINUTES * MINUTE });
    await remember(options.challenge, input.purpose, input.binding, input.accountId, t);
    return options as unknown as Record<string, unknown>;
  }

  async function assert(input: { purpose: 'sign_in' | 'reset'; binding: string; response: string; accountId?: string | null; context?: RequestContext }, t?: Transaction): Promise<PasskeyUse> {
    const response = parse<AuthenticationResponseJSON>(input.response);
    const challenge = challengeOf(response);
    await consume(challenge, input.purpose, input.binding, t);
    const handle = typeof response.response.userHandle === 'string' ? safeUtf8(response.response.userHandle) : null;
    // A reset names its account; a sign-in takes the account the handle names. Either way the
    // credential must be that account's own.
    const expected = input.accountId === undefined ? handle : input.accountId;
    const owner = expected !== null && handle === expected ? expected : null;
    const credentials = owner ? await deps.repo.listByAccount(owner, t) : await deps.repo.listByAccount('', t);
    const credential = credentials.find((c) => c.credentialId === response.id) ?? null;
    const [{ verifyAuthenticationResponse }] = await webauthn();
    let verification: Awaited<ReturnType<typeof verifyAuthenticationResponse>> | null = null;
    let failure: string | null = null;
    try {
      verification = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge,
        expectedOrigin: origin,
        expectedRPID: rpId,
        credential: credential
          ? { id: credential.credentialId, publicKey: bytesOf(credential.publicKey), counter: credential.signCount, transports: credential.transports as WebAuthnCredential['transports'] }
          : { ...(await (dummy ??= dummyCredential())), id: response.id },
        requireUserVerification: true,
      });
    } catch (err) {
      failure = (err as Error).message;
    }
    // Refused against the account it claimed, when that account holds passkeys (its owner should
    // know); a handle naming nothing is attacker-chosen text, never stored as an account id.
    const claimed = owner && credentials.length > 0 ? owner : input.accountId ?? null;
    if (!credential || !owner) return refused(handle === null ? 'no_user_handle' : 'not_this_accounts_passkey', claimed, input.context, t);
    if (failure !== null || !verification?.verified) {
      // The library refuses a count that did not move forward: a clone of this authenticator.
      const clone = failure !== null && /counter/i.test(failure);
      return refused(clone ? 'sign_count_regression' : 'assertion_invalid', owner, input.context, t, { credential: credential.id, ...(clone ? {} : { error: failure?.slice(0, 200) ?? null }) });
    }
    const { newCounter, userVerified } = verification.authenticationInfo;
    if (!userVerified) return refused('user_not_verified', owner, input.context, t, { credential: credential.id });
    // Compare-and-set on the count read above: a second request with the same answer loses here.
    if (!(await deps.repo.recordUse(credential.id, credential.signCount, newCounter, deps.clock.now(), t))) {
      return refused('sign_count_regression', owner, input.context, t, { credential: credential.id, concurrent: true });
    }
    await deps.audit.record({ activity: 'sspr.passkey.used', result: 'success', reason: input.purpose, targetAccountId: owner, context: input.context, details: { credential: credential.id } }, t);
    return { accountId: owner, credential: { ...credential, signCount: newCounter }, userVerified };
  }

  return {
    id: 'passkey',
    kind: 'ceremony',
    registrable: true,
    provesAll: false,
    // RFC 8176: a hardware-bound key, with the user verified by the authenticator (two factors alone).
    amr: ['hwk', 'user'],
    // Not typed: the field is the ceremony's answer, posted by the page's script.
    proofInput: { digits: false, maxLength: 16_384 },
    rpId,
    origin,
    // A passkey's name (the user's own) stands where an address would.
    describe: (stored) => ({ masked: stored.target }),

    async registrationOptions(input, t) {
      const existing = await deps.repo.listByAccount(input.accountId, t);
      const [{ generateRegistrationOptions }] = await webauthn();
      const options = await generateRegistrationOptions({
        rpName: 'oidc-sspr',
        rpID: rpId,
        userName: input.login,
        userDisplayName: input.displayName ?? input.login,
        userID: userHandleOf(input.accountId),
        attestationType: 'none',
        excludeCredentials: existing.map((c) => ({ id: c.credentialId, transports: c.transports as WebAuthnCredential['transports'] })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'required' },
        timeout: CHALLENGE_MINUTES * MINUTE,
      });
      await remember(options.challenge, 'register', input.binding, input.accountId, t);
      return options as unknown as Record<string, unknown>;
    },

    async register(input, t) {
      const response = parse<RegistrationResponseJSON>(input.response);
      const challenge = challengeOf(response);
      const row = await consume(challenge, 'register', input.binding, t);
      if (row.accountId !== input.accountId) throw new CodeInvalid({ detail: 'passkey: registration challenge of another account' });
      const [{ verifyRegistrationResponse }] = await webauthn();
      let verified: Awaited<ReturnType<typeof verifyRegistrationResponse>>;
      try {
        verified = await verifyRegistrationResponse({ response, expectedChallenge: challenge, expectedOrigin: origin, expectedRPID: rpId, requireUserVerification: true });
      } catch (err) {
        return refused('registration_invalid', input.accountId, input.context, t, { error: (err as Error).message.slice(0, 200) });
      }
      if (!verified.verified) return refused('registration_invalid', input.accountId, input.context, t);
      const info = verified.registrationInfo;
      const credential: PasskeyCredential = {
        id: randomUUID(),
        accountId: input.accountId,
        credentialId: info.credential.id,
        publicKey: base64urlOf(info.credential.publicKey),
        signCount: info.credential.counter,
        transports: (info.credential.transports ?? []).slice(0, 8),
        aaguid: info.aaguid,
        name: input.name,
        createdAt: deps.clock.now(),
        lastUsedAt: null,
      };
      if (!(await deps.repo.insert(credential, t))) return refused('credential_taken', input.accountId, input.context, t);
      return credential;
    },

    proofOptions: (input, t) => assertionOptions({ purpose: 'reset', binding: input.binding, accountId: input.accountId }, t),

    async prove(input: ProofInput & { binding: string }, t?: Transaction) {
      // Unknown ids expect an account that matches no handle: the same checks run, and fail.
      // An account whose passkeys the policy does not count (`stored` null) is no owner either.
      const accountId = input.stored ? input.accountId ?? '' : '';
      await assert({ purpose: 'reset', binding: input.binding, response: input.code, accountId, context: input.context }, t);
    },

    assertionOptions,
    assert,
    list: (accountId, t) => deps.repo.listByAccount(accountId, t),
    purgeExpired: () => deps.challenges.purgeExpired(deps.clock.now()),
    rename: (accountId, id, name, t) => deps.repo.rename(accountId, id, name, t),
  };
}

/**
 * The account an assertion claims (its user handle), before anything is checked: only for counting
 * the attempt against that account's sign-in budget. Null when it names none.
 */
export function accountOfAssertion(json: string): string | null {
  try {
    const handle = (JSON.parse(json) as { response?: { userHandle?: unknown } }).response?.userHandle;
    return typeof handle === 'string' ? safeUtf8(handle) : null;
  } catch {
    return null;
  }
}

function safeUtf8(b64: string): string | null {
  try {
    return b64.length <= 256 ? Buffer.from(b64, 'base64url').toString('utf8') : null;
  } catch {
    return null;
  }
}
