// `npm ci` runs this: build dist/ (where package.json's bin and exports point) when TypeScript is
// installed and dist/ is not already current. A production install without dev dependencies
// (`npm ci --omit=dev`) has no compiler: it needs a dist/ built beforehand (the packed package
// carries one), so it skips with a note.
import { execSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { staleReason } from './build-state.mjs';

const require = createRequire(import.meta.url);
try {
  require.resolve('typescript');
} catch {
  console.log('oidc-sspr: TypeScript is not installed (production install): not building dist/.');
  process.exit(0);
}
if (staleReason()) execSync('npm run build', { stdio: 'inherit' });
