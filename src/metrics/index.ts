import type { Context, Next } from 'koa';
import { lazy } from '../lazy.ts';
import type { AuditInput } from '../audit/index.ts';
import { constantEquals } from '../sspr/crypto.ts';

export type Metrics = ReturnType<typeof createMetrics>;

/** Loaded only when `/metrics` is on: with it off, nothing is counted and prom-client stays out of memory. */
const promClient = lazy<typeof import('prom-client')>('prom-client');

/**
 * Prometheus metrics. Domain counters are derived from audit events, so every step that is audited
 * is counted the same way and no module needs to know about metrics. One registry per app: tests
 * run several apps in one process.
 */
export function createMetrics() {
  const { Counter, Histogram, Registry, collectDefaultMetrics } = promClient();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'oidc_sspr_' });
  const events = new Counter({ name: 'oidc_sspr_audit_events_total', help: 'Audited events by activity and result', labelNames: ['activity', 'result'], registers: [registry] });
  const signIns = new Counter({ name: 'oidc_sspr_sign_ins_total', help: 'Password sign-ins by result', labelNames: ['result'], registers: [registry] });
  const registrations = new Counter({ name: 'oidc_sspr_registrations_total', help: 'Completed registrations and verified methods', labelNames: ['step', 'method', 'result'], registers: [registry] });
  const resets = new Counter({ name: 'oidc_sspr_resets_total', help: 'Self-service password reset steps', labelNames: ['step', 'method', 'result'], registers: [registry] });
  const codesSent = new Counter({ name: 'oidc_sspr_codes_sent_total', help: 'One-time codes sent', labelNames: ['flow', 'method'], registers: [registry] });
  const blocks = new Counter({ name: 'oidc_sspr_throttle_blocks_total', help: 'Throttle blocks', labelNames: ['kind'], registers: [registry] });
  const duration = new Histogram({
    name: 'oidc_sspr_http_request_duration_seconds',
    help: 'HTTP request duration',
    labelNames: ['method', 'area', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });

  const methodOf = (e: AuditInput) => {
    const m = e.details?.method ?? e.details?.channel;
    return typeof m === 'string' ? m : 'none';
  };

  return {
    registry,
    /** Called for every audit event. */
    observe(e: AuditInput): void {
      events.inc({ activity: e.activity, result: e.result });
      const [area, flow, step] = e.activity.split('.');
      if (area === 'auth' && flow === 'sign_in') signIns.inc({ result: step });
      if (area === 'sspr' && flow === 'registration') registrations.inc({ step, method: methodOf(e), result: e.result });
      if (area === 'sspr' && flow === 'reset') resets.inc({ step, method: methodOf(e), result: e.result });
      if (step === 'code_sent') codesSent.inc({ flow, method: methodOf(e) });
      if (step === 'blocked') blocks.inc({ kind: `${area}.${flow}` });
    },
    async timeRequests(ctx: Context, next: Next): Promise<void> {
      const end = duration.startTimer();
      try {
        await next();
      } finally {
        const area = ctx.path.startsWith('/interaction/') ? 'interaction'
          : ctx.path.startsWith('/reset') ? 'reset'
          : ctx.path.startsWith('/account') ? 'account'
          : ctx.path === '/metrics' || ctx.path === '/healthz' || ctx.path.startsWith('/static') ? 'ops'
          : 'oidc';
        end({ method: ctx.method, area, status: String(ctx.status) });
      }
    },
  };
}

/** `/metrics` behind a bearer token; without a configured token it does not exist. */
export function metricsEndpoint(metrics: Metrics | undefined, token: string) {
  return async function metricsRoute(ctx: Context): Promise<void> {
    if (!token || !metrics) {
      ctx.status = 404;
      return;
    }
    const given = /^Bearer (.+)$/i.exec(ctx.get('authorization'))?.[1] ?? '';
    if (!constantEquals(given, token)) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.body = { error: 'unauthorized' };
      return;
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  };
}
