import argon2 from 'argon2';

export interface HashingParameters {
  memory_kib: number;
  time_cost: number;
  parallelism: number;
}

export type PasswordHasher = ReturnType<typeof createPasswordHasher>;

/**
 * argon2id with explicit parameters (they decide sign-in throughput). `dummyVerify` does the same
 * work for unknown accounts so sign-in and reset timing does not reveal whether an account exists.
 */
export function createPasswordHasher(params: HashingParameters) {
  const options = {
    type: argon2.argon2id,
    memoryCost: params.memory_kib,
    timeCost: params.time_cost,
    parallelism: params.parallelism,
  } as const;
  let dummyHash: Promise<string> | null = null;
  // argon2's answer per PHC head (`$argon2id$v=19$m=…,p=…,t=…`): the salt and hash after it do not
  // change it, and a sign-in would otherwise parse the whole stored string again each time.
  const rehashByHead = new Map<string, boolean>();
  const hash = (password: string) => argon2.hash(password.normalize('NFC'), options);
  return {
    /** An argon2id hash of the password (NFC-normalised). */
    hash,
    /** True when the password matches the stored hash; false for a malformed hash too. */
    async verify(stored: string, password: string): Promise<boolean> {
      try {
        return await argon2.verify(stored, password.normalize('NFC'));
      } catch {
        return false; // a malformed stored hash never signs anyone in
      }
    },
    /** True when the stored hash was made with other parameters and should be replaced. */
    needsRehash(stored: string): boolean {
      // argon2's own check compares the numbers only: an imported argon2i or argon2d hash is upgraded too.
      if (!stored.startsWith('$argon2id$')) return true;
      const head = stored.split('$', 4).join('$');
      const known = rehashByHead.get(head);
      if (known !== undefined) return known;
      let answer: boolean;
      try {
        answer = argon2.needsRehash(stored, options);
      } catch {
        return true; // malformed: not remembered, a later well-formed hash with this head decides
      }
      if (rehashByHead.size < 16) rehashByHead.set(head, answer);
      return answer;
    },
    /** The work of a verify against a dummy hash, always false: for unknown accounts. */
    async dummyVerify(password: string): Promise<false> {
      dummyHash ??= hash('dummy password for timing equality');
      await argon2.verify(await dummyHash, password.normalize('NFC')).catch(() => false);
      return false;
    },
  };
}
