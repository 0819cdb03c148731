import { randomUUID } from 'node:crypto';
import { Op } from 'sequelize';
import type { AuditSink } from '../audit/index.ts';
import type { Clock } from '../clock.ts';
import type { SecretBox } from '../sspr/crypto.ts';
import type { TransactionHandle } from '../sspr/ports.ts';
import { fastSql } from '../store/fast-sql.ts';
import { transactionOf, type DeliveryRow, type Store, type Transaction } from '../store/index.ts';
import { dateParamFor, limitClause } from '../store/sql.ts';
import { consoleLog, isPermanent, PermanentDeliveryError, type Channel, type LogFn, type Transport } from './transports.ts';

export interface EnqueueInput {
  channel: Channel;
  /** Email address or phone number. */
  to: string;
  /** Email only. */
  subject?: string;
  text: string;
  accountId?: string | null;
  correlationId?: string | null;
}

export interface DeliveryQueueOptions {
  store: Store;
  clock: Clock;
  transports: Record<Channel, Transport>;
  audit: AuditSink;
  /** Seals message bodies while they wait (AES-256-GCM under `encryption_keys`); see `sealBody`. */
  secretBox: Pick<SecretBox, 'seal' | 'open'>;
  log?: LogFn;
  /** A message that failed this many times is given up (status `failed`). Default 5. */
  maxAttempts?: number;
  /** Retry n waits baseDelayMs × 2^(n−1): 30 s, 1 min, 2 min, 4 min by default. */
  baseDelayMs?: number;
  /** A claimed row whose sender vanished (crash) is claimed again after this long. Default 5 min. */
  leaseMs?: number;
}

/** What stays in `body` once a message has left (or was given up): codes are secrets. */
export const SENT_MARKER = '[sent]';
export const FAILED_MARKER = '[failed]';

/**
 * A waiting body is sealed, never plaintext, because overwriting it after sending is not enough on
 * its own: the plaintext would already have reached SQLite's WAL (page images kept until the WAL is
 * reset) and PostgreSQL's heap (the old row version stays on disk until VACUUM reuses its space,
 * and in WAL archives and backups). Sealed, the code never reaches either file in the clear; once
 * sent, even the ciphertext gives way to SENT_MARKER. The AAD binds a body to its row.
 */
const SEALED = 'sealed:';
const bodyAad = (id: string) => `delivery-body|${id}`;

/** Rows queued before bodies were sealed are still sent as they are. */
export function openBody(box: Pick<SecretBox, 'open'>, row: Pick<DeliveryRow, 'id' | 'body'>): string {
  return row.body.startsWith(SEALED) ? box.open(row.body.slice(SEALED.length), bodyAad(row.id)) : row.body;
}

export type DeliveryQueue = ReturnType<typeof createDeliveryQueue>;

/**
 * The delivery queue (INTERFACE.md "Messages"): `enqueue` writes a pending row in the caller's
 * transaction; a worker (`start`) or `flush` claims due rows, sends them, and records the outcome in
 * the row and the audit log. The request path never waits for, nor learns about, a delivery.
 *
 * Claiming is safe for several instances: on PostgreSQL one `UPDATE … WHERE id IN (SELECT … FOR
 * UPDATE SKIP LOCKED)`; on SQLite (one process) a conditional UPDATE per row. A claim is a lease:
 * `next_attempt_at` moves `leaseMs` ahead, so a row held by a crashed instance comes due again.
 */
/** SQLite: the due rows, oldest first (served by the (status, next_attempt_at) index). */
const dueSqlite = (limit: number) => `SELECT id FROM deliveries WHERE status IN ('pending', 'sending') AND next_attempt_at <= $1
  ORDER BY next_attempt_at ${limitClause(limit)}`;

export function createDeliveryQueue(options: DeliveryQueueOptions) {
  const { store, clock, transports, audit, secretBox } = options;
  const { Delivery } = store.models;
  const log = options.log ?? consoleLog;
  const maxAttempts = options.maxAttempts ?? 5;
  const baseDelayMs = options.baseDelayMs ?? 30_000;
  // Twice the slowest transport's own time-out (SMTP socket 30 s): long enough that a live sender
  // never loses its claim, short enough that a code held by a crashed instance still arrives well
  // within its 10-minute life.
  const leaseMs = options.leaseMs ?? 60_000;

  const dateParam = dateParamFor(store.dialect);

  let started = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let kickPending: NodeJS.Immediate | undefined;
  // Batches of one instance run one after another; `chain` is the tail, so stop() can wait for it.
  let chain: Promise<unknown> = Promise.resolve();

  function exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = chain.then(fn, fn);
    chain = run.catch(() => undefined);
    return run;
  }

  async function claim(limit: number): Promise<DeliveryRow[]> {
    const now = clock.now();
    const lease = new Date(now.getTime() + leaseMs);
    let ids: string[];
    if (store.dialect === 'postgres') {
      const [rows] = await store.sequelize.query(
        `UPDATE deliveries SET status = 'sending', next_attempt_at = $1
          WHERE id IN (SELECT id FROM deliveries
                        WHERE status IN ('pending', 'sending') AND next_attempt_at <= $2
                        ORDER BY next_attempt_at LIMIT $3
                        FOR UPDATE SKIP LOCKED)
          RETURNING id`,
        { bind: [lease, now, limit] },
      );
      ids = (rows as Array<{ id: string }>).map((r) => r.id);
    } else {
      // The worker asks twice a second, mostly to find nothing: a prepared statement (fastSql), not
      // Model.findAll, whose query building and statement preparation made an idle server spend
      // several ms of CPU per second (issue 19).
      const due = await fastSql(store.sequelize).all<{ id: string }>(dueSqlite(limit), [dateParam(now)]);
      ids = [];
      for (const { id } of due) {
        const [n] = await Delivery.update(
          { status: 'sending', nextAttemptAt: lease },
          { where: { id, status: ['pending', 'sending'], nextAttemptAt: { [Op.lte]: now } } },
        );
        if (n === 1) ids.push(id);
      }
    }
    if (ids.length === 0) return [];
    return Delivery.findAll({ where: { id: ids }, order: [['createdAt', 'ASC']] });
  }

  async function deliver(row: DeliveryRow): Promise<void> {
    const channel = row.channel as Channel;
    const attempts = row.attempts + 1;
    try {
      const transport = transports[channel];
      if (!transport) throw new PermanentDeliveryError(`no transport for channel ${row.channel}`);
      let text: string;
      try {
        text = openBody(secretBox, row);
      } catch (err) {
        // Its key was removed from encryption_keys while it waited: no retry can open it.
        throw new PermanentDeliveryError(`message body cannot be opened: ${(err as Error).message}`);
      }
      await transport.send({ channel, to: row.recipient, subject: row.subject ?? undefined, text });
    } catch (err) {
      await failed(row, attempts, err);
      return;
    }
    const now = clock.now();
    await store.transaction(async (t) => {
      await Delivery.update(
        { status: 'sent', sentAt: now, body: SENT_MARKER, attempts, lastError: null },
        { where: { id: row.id, status: 'sending' }, transaction: t },
      );
      await audit.record({
        activity: 'sspr.notice.sent',
        result: 'success',
        targetAccountId: row.accountId,
        context: { correlationId: row.correlationId },
        details: { channel },
      }, t);
    });
    log('info', 'delivery sent', { id: row.id, channel, attempts });
  }

  async function failed(row: DeliveryRow, attempts: number, err: unknown): Promise<void> {
    const reason = scrub(err instanceof Error ? err.message : String(err), row.recipient);
    const now = clock.now();
    const channel = row.channel;
    if (isPermanent(err) || attempts >= maxAttempts) {
      await store.transaction(async (t) => {
        await Delivery.update(
          { status: 'failed', body: FAILED_MARKER, attempts, lastError: reason },
          { where: { id: row.id, status: 'sending' }, transaction: t },
        );
        await audit.record({
          activity: 'sspr.notice.failed',
          result: 'failure',
          reason,
          targetAccountId: row.accountId,
          context: { correlationId: row.correlationId },
          details: { channel, attempts },
        }, t);
      });
      log('error', 'delivery failed, given up', { id: row.id, channel, attempts, reason });
      return;
    }
    const retryAt = new Date(now.getTime() + baseDelayMs * 2 ** (attempts - 1));
    await Delivery.update(
      { status: 'pending', attempts, nextAttemptAt: retryAt, lastError: reason },
      { where: { id: row.id, status: 'sending' } },
    );
    log('warn', 'delivery failed, will retry', { id: row.id, channel, attempts, retryAt: retryAt.toISOString(), reason });
  }

  async function batch(limit: number): Promise<number> {
    const rows = await claim(limit);
    const one = (row: DeliveryRow) => deliver(row).catch((err: unknown) => {
      // The outcome could not be recorded (database gone?): the lease brings the row back later.
      log('error', 'delivery outcome not recorded', { id: row.id, error: err instanceof Error ? err.message : String(err) });
    });
    // PostgreSQL: send the batch side by side. SQLite has one writer, and Sequelize opens a
    // connection per transaction there, so parallel outcome transactions would only fight for the lock.
    if (store.dialect === 'postgres') await Promise.all(rows.map(one));
    else for (const row of rows) await one(row);
    return rows.length;
  }

  async function tick(limit = 20): Promise<number> {
    try {
      return await processDue(limit);
    } catch (err) {
      log('error', 'delivery worker: batch failed', { error: err instanceof Error ? err.message : String(err) });
      return 0;
    }
  }

  /** Claims up to `limit` due messages, sends them, records each outcome; returns how many it claimed. */
  function processDue(limit = 20): Promise<number> {
    return exclusive(() => batch(limit));
  }

  /** Schedules one batch on the next turn of the event loop, without waiting for it. */
  function kick(): void {
    if (stopped || kickPending) return;
    kickPending = setImmediate(() => {
      kickPending = undefined;
      void tick();
    });
  }

  return {
    /**
     * Writes one pending message; pass the transaction of the step that causes it, so the message
     * exists exactly when the step commits. When the worker runs, it is kicked after the commit.
     * Returns the delivery id.
     */
    async enqueue(input: EnqueueInput, t?: TransactionHandle): Promise<string> {
      const tx = transactionOf(t);
      const now = clock.now();
      const id = randomUUID();
      await Delivery.create({
        id,
        channel: input.channel,
        recipient: input.to,
        subject: input.subject?.slice(0, 400) ?? null,
        body: SEALED + secretBox.seal(input.text, bodyAad(id)),
        accountId: input.accountId ?? null,
        correlationId: input.correlationId ?? null,
        status: 'pending',
        attempts: 0,
        nextAttemptAt: now,
        lastError: null,
        sentAt: null,
        createdAt: now,
      }, { transaction: tx });
      if (started) {
        if (tx) tx.afterCommit(() => kick());
        else kick();
      }
      return id;
    },
    processDue,
    kick,
    /** Processes batches until nothing is due (retries scheduled later stay pending). */
    async flush(limit = 20): Promise<number> {
      let total = 0;
      for (let i = 0; i < 1000; i++) {
        const n = await processDue(limit);
        if (n === 0) break;
        total += n;
      }
      return total;
    },
    /** Starts the background worker; its timer does not keep the process alive. */
    start(intervalMs = 500, limit = 20): void {
      if (started) return;
      started = true;
      stopped = false;
      const loop = async () => {
        timer = undefined;
        const n = await tick(limit);
        if (!started) return;
        timer = setTimeout(() => void loop(), n >= limit ? 0 : intervalMs);
        timer.unref();
      };
      timer = setTimeout(() => void loop(), 0);
      timer.unref();
    },
    /** Stops the worker and waits for a batch in flight. */
    async stop(): Promise<void> {
      started = false;
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (kickPending) clearImmediate(kickPending);
      kickPending = undefined;
      await chain;
    },
  };
}

/** An error message fit for the audit log: no recipient, no address, no phone number. */
export function scrub(message: string, recipient: string): string {
  let m = recipient ? message.split(recipient).join('[recipient]') : message;
  m = m.replace(/[^\s<>"'@,;:]+@[^\s<>"'@,;:]+/g, '[address]');
  m = m.replace(/\+?\d[\d ()-]{5,}\d/g, '[number]');
  return m.slice(0, 400);
}
