/**
 * The longest pause of the event loop while `work` runs, measured by a ticker every `tickMs`: what a
 * synchronous wait inside `work` (a busy handler, a lock) would cost every other request.
 */
export async function longestPause<T>(work: () => Promise<T>, tickMs = 5): Promise<{ result: T; pauseMs: number }> {
  let longest = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, tickMs);
  try {
    const result = await work();
    // A stall just before the end shows here, not in the ticker (which had no turn to run).
    return { result, pauseMs: Math.max(longest, performance.now() - last) };
  } finally {
    clearInterval(ticker);
  }
}
