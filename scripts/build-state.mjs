// Whether dist/ must be (re)built: missing, or older than anything it is built from. Shared by
// `npm start` (prestart) and `npm ci` (prepare), so a fresh clone builds once — at install — and
// every later start goes straight to serving. The build writes dist/.build-stamp when it ends
// (scripts/after-build.mjs); its time is what "older" is measured against, so an interrupted build,
// whose stamp is missing, counts as no build.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = new URL('..', import.meta.url).pathname;
export const STAMP = join(ROOT, 'dist', '.build-stamp');
const INPUTS = ['src', 'tsconfig.json', 'tsconfig.build.json'];

function newest(path) {
  const s = statSync(path, { throwIfNoEntry: false });
  if (!s) return 0;
  if (!s.isDirectory()) return s.mtimeMs;
  let latest = s.mtimeMs;
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)));
  return latest;
}

/** Null when dist/ is current, else why it must be built (one line). */
export function staleReason() {
  if (!existsSync(STAMP)) return 'dist/ has not been built yet';
  const built = statSync(STAMP).mtimeMs;
  const changed = INPUTS.find((p) => newest(join(ROOT, p)) > built);
  return changed ? `${changed} changed since the last build` : null;
}
