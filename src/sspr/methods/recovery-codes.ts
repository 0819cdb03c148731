import { randomBytes } from 'node:crypto';
import type { TransactionHandle as Transaction } from '../ports.ts';
import { constantEquals, normaliseReadable, readableSecret, type KeyedHasher, type SecretBox } from '../crypto.ts';
import { CodeInvalid } from '../errors.ts';
import type { EnrolmentView, HeldSecretMethod, MethodRepository } from './types.ts';

/** Binds the sealed codes of a pending enrolment to their purpose. */
const AAD = 'recovery-codes-pending';
const COUNT = 10;
/** Read off paper (READABLE_ALPHABET, no look-alikes): 31 symbols × 10 ≈ 49.5 bits a code, throttled like every guess. */
const LENGTH = 10;
const GROUP = 5;
/** A code as printed: LENGTH symbols in groups of GROUP joined by a dash (`abcde-fghjk`). */
const PROOF = { digits: false, maxLength: LENGTH + Math.ceil(LENGTH / GROUP) - 1 } as const;

/** What the method stores: a salt and the keyed hashes of the codes not used yet. */
interface StoredSet {
  v: 1;
  salt: string;
  hashes: string[];
}

export interface RecoveryCodesDeps {
  secretBox: SecretBox;
  hasher: KeyedHasher;
  methodRepo: Pick<MethodRepository, 'replaceSecret'>;
}

const newCode = () => readableSecret(LENGTH, GROUP);

/** What people type: any case, with or without the spaces and dashes that group it. */
export function normaliseRecoveryCode(typed: string): string {
  return normaliseReadable(typed).slice(0, 64);
}

/** How many codes of a stored set are left (`user show`, /account/security). */
export function remainingCodes(secretEnc: string | null): number {
  return parseSet(secretEnc)?.hashes.length ?? 0;
}

function parseSet(secretEnc: string | null): StoredSet | null {
  if (!secretEnc) return null;
  try {
    const set = JSON.parse(secretEnc) as Partial<StoredSet>;
    return set.v === 1 && typeof set.salt === 'string' && Array.isArray(set.hashes) ? (set as StoredSet) : null;
  } catch {
    return null;
  }
}

/**
 * Recovery codes: ten single-use codes shown once at registration, to print or keep in a password
 * manager. Stored only as keyed hashes (with a per-set salt); typing one back at registration proves
 * the set was kept without using it up; each works once as a reset proof, used up by a
 * compare-and-set on the stored set, so two requests with the same code cannot both pass.
 */
export function createRecoveryCodesMethod(deps: RecoveryCodesDeps): HeldSecretMethod {
  const { secretBox, hasher, methodRepo } = deps;
  const digest = (salt: string, code: string) => hasher.hashAll(`${salt}:${normaliseRecoveryCode(code)}`);
  // The same work for ids that lead nowhere: a set of ten hashes nobody holds codes for.
  const dummy: StoredSet = { v: 1, salt: 'dummy', hashes: Array.from({ length: COUNT }, () => randomBytes(32).toString('hex')) };

  function view(codes: string[]): EnrolmentView {
    return { partial: 'recovery-codes-enrol', data: { codes, text: `${codes.join('\n')}\n` }, code: PROOF };
  }

  /** The index of the matching hash, after comparing against every one (no early exit). */
  function match(set: StoredSet, code: string): number {
    const candidates = digest(set.salt, code);
    let found = -1;
    set.hashes.forEach((h, i) => {
      for (const c of candidates) if (constantEquals(h, c) && found < 0) found = i;
    });
    return found;
  }

  return {
    id: 'recovery_codes',
    kind: 'held_secret',
    registrable: true,
    provesAll: false,
    amr: ['otp'],
    proofInput: PROOF,
    describe: (stored) => ({ masked: null, remaining: parseSet(stored.secretEnc)?.hashes.length ?? 0 }),
    async enrol() {
      const codes = Array.from({ length: COUNT }, newCode);
      return { pending: secretBox.seal(JSON.stringify(codes), AAD), view: view(codes) };
    },
    async show(pending) {
      return view(JSON.parse(secretBox.open(pending, AAD)) as string[]);
    },
    async confirm(pending, code) {
      const codes = JSON.parse(secretBox.open(pending, AAD)) as string[];
      const typed = normaliseRecoveryCode(code);
      if (!codes.some((c) => constantEquals(normaliseRecoveryCode(c), typed))) throw new CodeInvalid({ detail: 'recovery code: not one of the new set' });
      const salt = randomBytes(16).toString('base64url');
      const set: StoredSet = { v: 1, salt, hashes: codes.map((c) => hasher.hash(`${salt}:${normaliseRecoveryCode(c)}`)) };
      return { secretEnc: JSON.stringify(set), lastTimeStep: null };
    },
    async prove({ stored, code }, t?: Transaction) {
      const set = stored ? parseSet(stored.secretEnc) : null;
      const index = match(set ?? dummy, code);
      if (!stored || !set || index < 0) throw new CodeInvalid({ detail: 'recovery code: no match' });
      const rest: StoredSet = { ...set, hashes: set.hashes.filter((_, i) => i !== index) };
      // Lost to a concurrent request with a code of the same set: refused like a used code.
      if (!(await methodRepo.replaceSecret(stored.id, stored.secretEnc!, JSON.stringify(rest), t))) {
        throw new CodeInvalid({ detail: 'recovery code: the set changed concurrently' });
      }
    },
  };
}
