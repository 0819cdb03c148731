/**
 * `npm run bench -- --steps`: inside each bench server, the main thread's CPU per HTTP step of a
 * sign-in (GET /auth, the login page, the POST, the resume, the token request) and, for oidc-sspr on
 * SQLite with `--sql`, the SQL statements each step ran and their CPU. Measured from the server's
 * 'request' event to the response's 'finish' with `process.threadCpuUsage`, so the argon2 verify
 * (on the libuv pool) is left out and the two servers' own work can be set side by side.
 *
 * Exact only when one request is in flight at a time (`--loops 1`); with more, a step's figure also
 * holds whatever other requests ran on the main thread meanwhile.
 */
import type { Server } from 'node:http';

export interface StepStats { [step: string]: { n: number; cpuUs: number; statements: number; sqlCpuUs: number } }

/** The step a request is, with ids and uids left out. */
export function stepOf(method: string, url: string): string {
  const path = url.split('?')[0] ?? '';
  const shape = path
    .replace(/^\/auth\/[^/]+$/, '/auth/:uid')
    .replace(/^\/interaction\/[^/]+/, '/interaction/:uid');
  return `${method} ${shape}`;
}

export function instrumentSteps(server: Server, sql?: () => { statements: number; cpuUs: number } | undefined): () => StepStats {
  const steps: StepStats = {};
  server.prependListener('request', (req, res) => {
    const c0 = process.threadCpuUsage();
    const s0 = sql?.();
    res.once('finish', () => {
      const c = process.threadCpuUsage(c0);
      const s1 = sql?.();
      const key = stepOf(req.method ?? 'GET', req.url ?? '');
      const e = (steps[key] ??= { n: 0, cpuUs: 0, statements: 0, sqlCpuUs: 0 });
      e.n++;
      e.cpuUs += c.user + c.system;
      if (s0 && s1) {
        e.statements += s1.statements - s0.statements;
        e.sqlCpuUs += s1.cpuUs - s0.cpuUs;
      }
    });
  });
  return () => structuredClone(steps);
}
