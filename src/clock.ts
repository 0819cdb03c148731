/** Time comes from here, so expiry, reconfirm and throttles can be tested by moving a clock. */
export interface Clock {
  /** The current time. */
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };
