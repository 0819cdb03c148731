/**
 * Preload for a child process a test runs (`NODE_OPTIONS=--import=<this file>`): at exit, writes the
 * npm packages the process loaded, as a JSON array, to the file named by SSPR_RECORD_PACKAGES_TO.
 */
import { writeFileSync } from 'node:fs';
import { recordLoadedPackages } from './package-recorder.ts';

const to = process.env.SSPR_RECORD_PACKAGES_TO;
if (!to) throw new Error('record-packages-at-exit: SSPR_RECORD_PACKAGES_TO is not set');
const loaded = recordLoadedPackages();
process.on('exit', () => writeFileSync(to, JSON.stringify([...loaded].sort())));
