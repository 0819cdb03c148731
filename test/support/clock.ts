import type { Clock } from '../../src/clock.ts';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A clock tests move by hand: `clock.advance('10m')`, `clock.advance('181d')`. */
export class TestClock implements Clock {
  private current: number;
  constructor(start: Date | number = Date.now()) {
    this.current = typeof start === 'number' ? start : start.getTime();
  }
  now(): Date {
    return new Date(this.current);
  }
  advance(by: string | number): void {
    if (typeof by === 'number') { this.current += by; return; }
    const m = /^(\d+)([smhd])$/.exec(by);
    if (!m) throw new Error(`bad duration ${by}`);
    this.current += Number(m[1]) * UNITS[m[2]];
  }
}
