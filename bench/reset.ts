/**
 * HOOK — the reset benchmark (issue 7, "Reset"): complete forgot-password flows per second and p99,
 * with the argon2id hashing of the new password excluded from the ratio.
 *
 * NOT BUILT YET: the forgot-password flow (src/sspr/flows, src/interactions/reset.ts) is being
 * written now. When it lands, fill in `runResetBenchmark`:
 *   1. seed accounts with a verified email method (RecoveryMethod rows, like seedAccounts does for
 *      accounts) and `sspr: { enabled_for: 'all' }` in bench/sspr-server.ts (a second child, so the
 *      sign-in benchmark stays uninterrupted);
 *   2. per loop: GET /auth → "Forgot your password?" → identifier → method → read the code from the
 *      outbox (delivery.outbox_dir, or an in-process smtp-server) → code → new password → sign in;
 *   3. report flows/s and p99 beside the bare server's sign-in (the irreducible part), and the
 *      server CPU per flow minus two argon2id hashes (measure `hashMs` once in the parent).
 * Until then run.ts prints that the reset benchmark is skipped, and why.
 */
import type { LoadResult } from './load.ts';

export interface ResetBenchmarkResult { load: LoadResult; serverCpuMsPerFlow: number; hashingMsPerFlow: number }

export const RESET_BENCHMARK_PENDING = 'the forgot-password flow is still being built; hook: bench/reset.ts';

export async function runResetBenchmark(): Promise<ResetBenchmarkResult | null> {
  return null;
}
