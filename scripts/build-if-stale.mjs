// `npm start` runs this first (prestart): build only when dist/ is missing or older than src/, so the
// second start of a fresh clone serves within seconds instead of compiling again.
import { execSync } from 'node:child_process';
import { staleReason } from './build-state.mjs';

const why = staleReason();
if (why) {
  console.log(`oidc-sspr: building dist/ (${why}) …`);
  execSync('npm run build', { stdio: 'inherit' });
}
