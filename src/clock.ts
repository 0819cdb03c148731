/** Time comes from here, so expiry, reconfirm and throttles can be tested by moving a clock. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
