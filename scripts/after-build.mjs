// The end of `npm run build`: the data files tsc does not copy, then the stamp that says dist/ is
// complete and when it was built (scripts/build-state.mjs).
import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, STAMP } from './build-state.mjs';

cpSync(join(ROOT, 'src/sspr/data'), join(ROOT, 'dist/src/sspr/data'), { recursive: true });
writeFileSync(STAMP, `${new Date().toISOString()}\n`);
