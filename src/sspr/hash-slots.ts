/**
 * At most `slots` password hashes run at a time; the rest wait in arrival order.
 *
 * argon2id is memory-hard on purpose: each hash fills `memory_kib` (19 MiB by default) while it runs.
 * Started all at once, a burst of sign-ins multiplies that memory and, with more hashes than cores,
 * the hashes only take turns on the cores while evicting each other's memory from the CPU caches —
 * each costs more CPU and none finishes sooner. Queued, the same burst needs `slots × memory_kib`,
 * and an attacker posting passwords in parallel cannot make the process allocate without bound.
 */
export interface HashSlots {
  /** Runs `work` once a slot is free; the slot is freed when it settles, whether it succeeded or not. */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Hashes running now and hashes waiting for a slot (for metrics and tests). */
  readonly busy: number;
  readonly waiting: number;
}

export function createHashSlots(slots: number): HashSlots {
  if (!Number.isInteger(slots) || slots < 1) throw new RangeError(`hash slots must be a positive integer, got ${slots}`);
  let busy = 0;
  const queue: Array<() => void> = [];
  const release = (): void => {
    const next = queue.shift();
    if (next) next(); // the slot passes straight on: busy stays the same
    else busy -= 1;
  };
  return {
    async run<T>(work: () => Promise<T>): Promise<T> {
      if (busy < slots) busy += 1;
      else await new Promise<void>((resolve) => queue.push(resolve));
      try {
        return await work();
      } finally {
        release();
      }
    },
    get busy() {
      return busy;
    },
    get waiting() {
      return queue.length;
    },
  };
}
