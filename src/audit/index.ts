import { randomUUID } from 'node:crypto';
import { Op, type WhereOptions } from 'sequelize';
import type { Clock } from '../clock.ts';
import { fastSql } from '../store/fast-sql.ts';
import type { TransactionHandle } from '../sspr/ports.ts';
import { transactionOf, type AuditEventRow, type Store } from '../store/index.ts';
import { dateParamFor } from '../store/sql.ts';
import { activityName, type Activity } from './activities.ts';

export type { Activity } from './activities.ts';

export type AuditResult = 'success' | 'failure' | 'blocked' | 'info';

/** Who/what/where of a request, carried from the HTTP edge into the domain. */
export interface RequestContext {
  ip?: string | null;
  userAgent?: string | null;
  clientId?: string | null;
  correlationId?: string | null;
  language?: string | null;
}

export interface AuditInput {
  activity: Activity;
  result: AuditResult;
  reason?: string | null;
  actor?: string | null;
  /** Readable target (login name); never an address, number or secret. */
  target?: string | null;
  targetAccountId?: string | null;
  context?: RequestContext;
  /** Extra non-secret facts (method type, counts, before/after policy). */
  details?: Record<string, unknown>;
}

export interface AuditEvent {
  time: string;
  activity: string;
  name: string;
  result: string;
  reason: string | null;
  actor: string | null;
  target: string | null;
  client_id: string | null;
  ip: string | null;
  user_agent: string | null;
  correlation_id: string | null;
  details: Record<string, unknown> | null;
}

export interface AuditQuery {
  since?: Date;
  until?: Date;
  activity?: string;
  result?: string;
  targetAccountId?: string;
  correlationId?: string;
  limit?: number;
}

export interface AuditSink {
  /** Writes one event; pass the transaction of the change it records. */
  record(event: AuditInput, t?: TransactionHandle): Promise<void>;
}

export type AuditLog = ReturnType<typeof createAuditLog>;

// The columns of the AuditEvent model (src/store/models.ts), in its column names.
const INSERT_EVENT = `INSERT INTO audit_events (id, time, activity, name, result, reason, actor, target, target_account_id,
    client_id, ip, user_agent, correlation_id, details) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`;

/** `onRecord` sees every event after it is written (metrics count from it). */
export function createAuditLog(store: Store, clock: Clock, onRecord?: (event: AuditInput) => void) {
  const { AuditEvent } = store.models;
  const sql = fastSql(store.sequelize);
  const dateParam = dateParamFor(store.dialect);
  // Ids sort by time, then by a per-process sequence, so the steps of one flow recorded in the
  // same millisecond still read in order (queries order by time, then id).
  let sequence = 0;
  const nextId = (time: Date) =>
    `${time.getTime().toString(36).padStart(9, '0')}-${(sequence++ % 36 ** 6).toString(36).padStart(6, '0')}-${randomUUID().slice(0, 13)}`;
  const clip = (v: string | null | undefined, n: number) => (v == null ? null : String(v).slice(0, n));
  return {
    async record(event: AuditInput, t?: TransactionHandle): Promise<void> {
      const ctx = event.context ?? {};
      const time = clock.now();
      // Plain SQL on the hot path (one per sign-in): Model.create costs more than the INSERT itself.
      await sql.run(INSERT_EVENT, [
        nextId(time),
        dateParam(time),
        event.activity,
        activityName(event.activity),
        event.result,
        clip(event.reason, 400),
        clip(event.actor, 200),
        clip(event.target, 200),
        event.targetAccountId ?? null,
        clip(ctx.clientId, 255),
        clip(ctx.ip, 64),
        clip(ctx.userAgent, 400),
        clip(ctx.correlationId, 64),
        event.details ? JSON.stringify(event.details) : null,
      ], transactionOf(t));
      onRecord?.(event);
    },
    async query(q: AuditQuery = {}): Promise<AuditEvent[]> {
      const where: WhereOptions<AuditEventRow> = {};
      const time: Record<symbol, Date> = {};
      if (q.since) time[Op.gte] = q.since;
      if (q.until) time[Op.lt] = q.until;
      if (q.since || q.until) Object.assign(where, { time });
      if (q.activity) Object.assign(where, { activity: q.activity.endsWith('*') ? { [Op.like]: `${q.activity.slice(0, -1)}%` } : q.activity });
      if (q.result) Object.assign(where, { result: q.result });
      if (q.targetAccountId) Object.assign(where, { targetAccountId: q.targetAccountId });
      if (q.correlationId) Object.assign(where, { correlationId: q.correlationId });
      const rows = await AuditEvent.findAll({ where, order: [['time', 'ASC'], ['id', 'ASC']], limit: q.limit ?? 10_000 });
      return rows.map((r) => ({
        time: r.time.toISOString(),
        activity: r.activity,
        name: r.name,
        result: r.result,
        reason: r.reason,
        actor: r.actor,
        target: r.target,
        client_id: r.clientId,
        ip: r.ip,
        user_agent: r.userAgent,
        correlation_id: r.correlationId,
        details: r.details ? (JSON.parse(r.details) as Record<string, unknown>) : null,
      }));
    },
    /** Deletes events older than the retention; returns how many went. */
    async prune(retentionDays: number): Promise<number> {
      const cutoff = new Date(clock.now().getTime() - retentionDays * 86_400_000);
      return AuditEvent.destroy({ where: { time: { [Op.lt]: cutoff } } });
    },
  };
}
