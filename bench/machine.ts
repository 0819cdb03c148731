import { readdirSync, readFileSync } from 'node:fs';

const TICK_MS = 10; // USER_HZ is 100 on Linux

/**
 * CPU time (ms) all processes on the machine have spent busy so far, from /proc/stat; null where
 * there is none. Busy minus the server's and the load generator's own CPU = what other processes
 * (other test runs on a shared machine) took during a measurement.
 */
export function machineBusyMs(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
    const [, user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).map(Number);
    return (user + nice + system + irq + softirq + steal) * TICK_MS;
  } catch {
    return null;
  }
}

/**
 * CPU time (ms) of the local PostgreSQL server processes so far (every process named `postgres`),
 * or null where /proc is not readable. PostgreSQL does its query work in its own processes, so
 * oidc-sspr's "server CPU" on PostgreSQL leaves it out; this measures it.
 */
export function postgresCpuMs(): number | null {
  let total = 0;
  let seen = false;
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      if (comm !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
      total += (Number(fields[11]) + Number(fields[12])) * TICK_MS;
      seen = true;
    } catch {
      // the process ended meanwhile
    }
  }
  return seen ? total : null;
}
