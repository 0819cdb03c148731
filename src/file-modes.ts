import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Data at rest on the local disk (issue 16, item 7): the SQLite database holds the signing keys'
 * private parts, password hashes and sealed TOTP seeds, `secrets.json` the keys that open them, and
 * the outbox one-time codes. The folders are 0700 and the files 0600, and looser modes left by an
 * older version (folder 0755, files 0644) are tightened at every start.
 *
 * Files are tightened only when they are ours by name; a folder only when it is owned by this user,
 * is not a shared sticky folder (/tmp), and holds nothing but our files. A database put straight into
 * a shared folder (the config folder, /var/lib) therefore leaves that folder alone, with a warning,
 * instead of locking other programs out of it.
 */

export type Warn = (message: string) => void;

const PRIVATE_DIR = 0o700;
const PRIVATE_FILE = 0o600;
const LOOSE = 0o077;
const STICKY = 0o1000;

// chmod means nothing on Windows (and getuid does not exist there): access is by ACL.
const posix = process.platform !== 'win32';

const octal = (mode: number) => (mode & 0o7777).toString(8).padStart(4, '0');

function ownedByUs(uid: number): boolean {
  return typeof process.getuid !== 'function' || process.getuid() === uid;
}

/** Sets `path` (if it exists) to `mode` when group or others have any access; never throws. */
function tighten(path: string, mode: number, warn: Warn): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    return;
  }
  if ((st.mode & LOOSE) === 0) return;
  try {
    chmodSync(path, mode);
    warn(`${path} was readable by others (mode ${octal(st.mode)}): set to ${octal(mode)}`);
  } catch (err) {
    warn(`${path} is readable by others (mode ${octal(st.mode)}) and could not be changed (${(err as Error).message}): chmod ${octal(mode)} it`);
  }
}

/** A private file: tightened to 0600 when it exists with a looser mode. */
export function securePrivateFile(path: string, warn: Warn): void {
  if (posix) tighten(path, PRIVATE_FILE, warn);
}

/**
 * A folder that only our files live in: created 0700 when missing; an existing looser one is
 * tightened under the rules above, else a warning says what to do.
 */
export function securePrivateDir(dir: string, isOurs: (name: string) => boolean, warn: Warn): void {
  if (!existsSync(dir)) {
    mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR });
    return;
  }
  if (!posix) return;
  const st = statSync(dir);
  if ((st.mode & LOOSE) === 0) return;
  const strangers = readdirSync(dir).filter((name) => !isOurs(name));
  if (!ownedByUs(st.uid) || (st.mode & STICKY) !== 0 || strangers.length > 0) {
    const why = strangers.length > 0 ? `it also holds ${strangers.slice(0, 3).join(', ')}${strangers.length > 3 ? ', …' : ''}` : 'it is shared';
    warn(`${dir} holds oidc-sspr's private data but is open to others (mode ${octal(st.mode)}); not changed because ${why}: give oidc-sspr a folder of its own, or chmod 700 it`);
    return;
  }
  tighten(dir, PRIVATE_DIR, warn);
}

/** The files SQLite keeps beside a database in WAL mode (and the rollback journal of older setups). */
export function sqliteFiles(storage: string): string[] {
  return ['', '-wal', '-shm', '-journal'].map((suffix) => `${storage}${suffix}`);
}

/**
 * Before SQLite opens `storage`: the folder 0700, the database file created empty with 0600 if
 * missing (an empty file is a new database to SQLite, and SQLite gives the -wal and -shm files it
 * creates the database file's mode), and the existing files tightened.
 */
export function prepareSqliteFiles(storage: string, warn: Warn): void {
  const dir = dirname(storage);
  const name = basename(storage);
  // Our folder by default (`data/`): the database, its WAL files, the generated secrets, the outbox.
  securePrivateDir(dir, (entry) => entry.startsWith(name) || entry === 'secrets.json' || entry === 'outbox', warn);
  if (!existsSync(storage)) closeSync(openSync(storage, 'a', PRIVATE_FILE));
  secureSqliteFiles(storage, warn);
}

/** After opening: the database and its -wal/-shm files 0600. */
export function secureSqliteFiles(storage: string, warn: Warn): void {
  for (const file of sqliteFiles(storage)) securePrivateFile(file, warn);
}

/** A name the outbox transport gives its files (src/delivery/outbox.ts). */
export const OUTBOX_FILE = /^\d{8}T\d{9}Z-(email|sms)-[0-9a-f]{8}\.json$/;

/** The outbox folder 0700 and its message files 0600. */
export function secureOutbox(dir: string, warn: Warn): void {
  if (!existsSync(dir)) return;
  securePrivateDir(dir, (entry) => OUTBOX_FILE.test(entry), warn);
  if (!posix) return;
  for (const entry of readdirSync(dir)) if (OUTBOX_FILE.test(entry)) securePrivateFile(join(dir, entry), warn);
}
