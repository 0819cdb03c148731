import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { PasswordPolicyConfig } from '../config/schema.ts';
import type { PasswordRule } from './errors.ts';

/**
 * New-password rules after NIST SP 800-63B rev4 §3.1.1.2: length in Unicode code points after NFC
 * normalisation, a minimum and a generous maximum (never truncated), no composition rules, a blocklist
 * of common and context-specific passwords, plus a zxcvbn strength floor. The password itself is
 * never logged nor returned; results name rules only.
 */

export interface PasswordContext {
  login: string;
  email?: string | null;
  /** The directory's answer to "is this the current password?" (checked by the caller with argon2). */
  currentPasswordMatches?: boolean;
  /** The repeat field, when the form has one. */
  confirmation?: string;
}

export type PasswordCheck =
  | { ok: true; score: number }
  | { ok: false; failed: PasswordRule[]; score: number };

export type PasswordPolicy = Awaited<ReturnType<typeof createPasswordPolicy>>;

/**
 * zxcvbn-ts's packages are loaded on first use, not at start: their dictionaries are ~18 MiB of
 * modules, and building the matcher grows the heap by much more, which V8 then keeps. Only setting a
 * password needs them, never a sign-in. `require` (the packages are CommonJS; an ESM `import` loads
 * the same files) keeps `check` synchronous.
 */
interface ZxcvbnPackages {
  core: typeof import('@zxcvbn-ts/core');
  common: typeof import('@zxcvbn-ts/language-common');
  en: typeof import('@zxcvbn-ts/language-en');
}
let zxcvbnLoaded: ZxcvbnPackages | undefined;
function zxcvbnPackages(): ZxcvbnPackages {
  if (!zxcvbnLoaded) {
    const require = createRequire(import.meta.url);
    zxcvbnLoaded = {
      core: require('@zxcvbn-ts/core') as ZxcvbnPackages['core'],
      common: require('@zxcvbn-ts/language-common') as ZxcvbnPackages['common'],
      en: require('@zxcvbn-ts/language-en') as ZxcvbnPackages['en'],
    };
  }
  return zxcvbnLoaded;
}

/** Names of the product: a password built on the service's name is one of the first guesses (NIST). */
const PRODUCT_WORDS = ['oidc-sspr', 'oidcsspr', 'sspr'];
/** Shorter words occur by chance inside long passphrases; refusing those would be noise. */
const MIN_CONTEXT_WORD = 3;

const BUILT_IN_LIST = new URL('./data/common-passwords.txt', import.meta.url);

/**
 * How src/sspr/data/common-passwords.txt was made: the most common entries of zxcvbn-ts's password
 * dictionary, lowercased, that are at least 8 code points long (shorter ones already fail every
 * allowed `min_length`). Also the fallback when the file is not next to the module (a build that did
 * not copy it).
 */
export function commonPasswordsFromZxcvbn(count = 1000): string[] {
  const out = new Set<string>();
  for (const p of zxcvbnPackages().common.dictionary['passwords-common']) {
    const w = normalise(p);
    if ([...w].length >= 8) out.add(w);
    if (out.size >= count) break;
  }
  return [...out];
}

function normalise(s: string): string {
  return s.normalize('NFC').toLowerCase();
}

function parseList(text: string): string[] {
  return text.split(/\r?\n/).map((l) => normalise(l.trim())).filter((l) => l.length > 0);
}

/**
 * ASVS 5.0 V6.2.4 asks for at least the 3000 most common passwords that fit the policy, and the
 * lowest allowed `min_length` is 8: the file's 1000 plus the same ranking taken on to 3000.
 */
const BLOCKLIST_SIZE = 3000;

/** The shipped list; empty when a build did not copy it (the zxcvbn ranking below still applies). */
async function loadBuiltInFile(): Promise<string[]> {
  try {
    return parseList(await readFile(BUILT_IN_LIST, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    return [];
  }
}

/** "Password2024!" and "!!password" are the listed word with the padding people add to pass a length rule. */
function core(pw: string): string {
  return pw.replace(/^[^\p{L}]+|[^\p{L}]+$/gu, '');
}

export async function createPasswordPolicy(config: PasswordPolicyConfig) {
  // The files are read now, so a missing `banned_passwords_file` stops the start as before.
  const listed = await loadBuiltInFile();
  if (config.banned_passwords_file) listed.push(...parseList(await readFile(config.banned_passwords_file, 'utf8')));

  // Built once, on the first check (see zxcvbnPackages): loading the dictionaries is the expensive
  // part. maxLength follows ours so a long password is scored whole instead of zxcvbn's default
  // 256-character cut.
  let built: { banned: Set<string>; zxcvbn: InstanceType<ZxcvbnPackages['core']['ZxcvbnFactory']> } | undefined;
  function engine() {
    if (!built) {
      const { core, common, en } = zxcvbnPackages();
      built = {
        banned: new Set([...listed, ...commonPasswordsFromZxcvbn(BLOCKLIST_SIZE)]),
        zxcvbn: new core.ZxcvbnFactory({
          dictionary: { ...common.dictionary, ...en.dictionary },
          graphs: common.adjacencyGraphs,
          translations: en.translations,
          maxLength: config.max_length,
        }),
      };
    }
    return built;
  }

  function contextWords(ctx: PasswordContext): string[] {
    const words = [ctx.login, ctx.email ?? '', (ctx.email ?? '').split('@')[0]];
    return words.map((w) => normalise(w.trim())).filter((w) => [...w].length >= MIN_CONTEXT_WORD);
  }

  function check(password: string, ctx: PasswordContext): PasswordCheck {
    const pw = password.normalize('NFC');
    const length = [...pw].length;
    const lower = pw.toLowerCase();
    const failed: PasswordRule[] = [];
    const { banned, zxcvbn } = engine();

    if (length < config.min_length) failed.push('too_short');
    if (length > config.max_length) failed.push('too_long');
    if (ctx.confirmation !== undefined && ctx.confirmation.normalize('NFC') !== pw) failed.push('mismatch');
    if (banned.has(lower) || banned.has(core(lower)) || PRODUCT_WORDS.some((w) => lower.includes(w))) failed.push('banned');
    const personal = contextWords(ctx);
    if (personal.some((w) => lower.includes(w))) failed.push('contains_login');
    if (ctx.currentPasswordMatches) failed.push('same_as_current');

    // Over-long input is refused before zxcvbn runs: its matching costs grow with the length.
    let score = 0;
    if (length <= config.max_length) {
      score = zxcvbn.check(pw, [...personal, ...PRODUCT_WORDS]).score;
      if (score < config.min_strength) failed.push('too_weak');
    }
    return failed.length === 0 ? { ok: true, score } : { ok: false, failed, score };
  }

  /** What the new-password page tells the user in advance. */
  function describe(): { minLength: number; maxLength: number; minStrength: number } {
    return { minLength: config.min_length, maxLength: config.max_length, minStrength: config.min_strength };
  }

  return { check, describe };
}
