import Provider, { type Adapter, type AdapterPayload } from 'oidc-provider';
import { Op } from 'sequelize';
import type { Clock } from '../clock.ts';
import type { Store } from '../store/index.ts';
import { TOKEN_ACCOUNT_COLUMNS, tokenAccountRowOf, type RawTokenAccountRow, type TokenAccountRow } from '../store/account-row.ts';
import { fastSql } from '../store/fast-sql.ts';
import { dateParamFor, limitClause, readDate } from '../store/sql.ts';
import { undoIfRolledBack } from '../store/sqlite-group-commit.ts';
import { SignInMemory } from './sign-in-memory.ts';

/** Models whose rows carry the account they belong to, so one account's state can be found at once. */
type AdapterClass = new (name: string) => Adapter;

interface PayloadRow { payload: string; consumed_at: Date | string | null }
/** A token with its grant and the grant's account (the account's columns null when there is none). */
interface TokenRow extends PayloadRow, Partial<Omit<RawTokenAccountRow, 'id'>> {
  grant_id: string | null;
  grant_payload: string | null;
  grant_account_id: string | null;
  id: string | null;
}

/** Tokens whose every use loads their grant next (code exchange, refresh, userinfo, introspection). */
const READ_WITH_GRANT = new Set(['AuthorizationCode', 'AccessToken', 'RefreshToken']);

/**
 * What a request read in the same statement as its token (oidc-provider's request context): the
 * token's grant, which the endpoint's own `Grant.find` right after takes instead of reading it again
 * (userinfo 3 statements → 2, refresh 6 → 5, the code exchange one fewer), and the grant's account,
 * which `findAccount` for the token takes (src/provider/index.ts; userinfo 2 → 1). Each is taken once:
 * any later look-up in the request reads the database. `null`: the token names a grant that is gone or
 * expired, or the grant an account that is gone.
 */
interface ReadWithToken {
  grants: Map<string, string | null>;
  accounts: Map<string, TokenAccountRow | null>;
  /** By uid: the session a code kept in memory is bound to (its exchange checks it next). */
  sessions: Map<string, string | null>;
}
/**
 * Kept on the request's context under a symbol of ours: a WeakMap keyed by each request's context
 * cost an identity hash and an ephemeron write barrier per request (perf, userinfo).
 */
const READ_WITH_TOKEN = Symbol('oidc-sspr read with token');
type CarriesRead = { [READ_WITH_TOKEN]?: ReadWithToken };
const readWithTokenOf = (ctx: object): ReadWithToken | undefined => (ctx as CarriesRead)[READ_WITH_TOKEN];

/** `key`'s entry, removed as it is taken; `undefined` when the request's token read did not bring it. */
function takeOnce<T>(entries: Map<string, T> | undefined, key: string): T | undefined {
  if (!entries?.has(key)) return undefined;
  const value = entries.get(key);
  entries.delete(key);
  return value;
}

/** oidc-provider's current request (its AsyncLocalStorage); none outside one (CLI, housekeeping). */
const requestContext = (): object | undefined => Provider.ctx as object | undefined;

/**
 * oidc-provider's storage on Sequelize: one table keyed by (model, id), with the lookup keys the
 * provider searches by in their own indexed columns. Every instance sharing the database sees the
 * same sessions, interactions, codes and tokens, so any instance can continue a flow.
 *
 * Every provider request runs several of these statements (a userinfo 1, a refresh 4, a sign-in 13),
 * so they are plain SQL with bind parameters instead of Model calls (a `Model.findOne` costs ~0.5 ms
 * of CPU on SQLite, `sequelize.query` ~0.15 ms), run at driver level on Sequelize's own connections
 * (`fastSql`: prepared statements, the same handle/pool, logging and SQLITE_BUSY retries as
 * Sequelize's). The SQL is the same on both databases (`$n` parameters, `ON CONFLICT … DO UPDATE`
 * needs SQLite ≥ 3.24).
 */
export function createSequelizeAdapter(store: Store, clock: Clock, options: { signInsInMemory?: number } = {}): AdapterClass {
  // Driver-level statements on Sequelize's own connections (see fast-sql.ts).
  const db = fastSql(store.sequelize);
  // Dates exactly as the OidcPayload model writes them, so the purge and revokeAccountState agree.
  const dateParam = dateParamFor(store.dialect);

  const UPSERT = `INSERT INTO oidc_payloads (model, id, payload, grant_id, user_code, uid, account_id, expires_at, consumed_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, grant_id = excluded.grant_id,
      user_code = excluded.user_code, uid = excluded.uid, account_id = excluded.account_id,
      expires_at = excluded.expires_at, consumed_at = excluded.consumed_at`;
  // Columns are fixed strings chosen below, never request input.
  const selectBy = (column: 'id' | 'uid' | 'user_code') =>
    `SELECT payload, consumed_at FROM oidc_payloads WHERE model = $1 AND ${column} = $2 AND (expires_at IS NULL OR expires_at > $3)`;
  const FIND = { id: selectBy('id'), uid: selectBy('uid'), userCode: selectBy('user_code') };
  // The token and its grant as one consistent read: the grant under the same expiry rule as FIND.
  const FIND_WITH_GRANT = `SELECT t.payload, t.consumed_at, t.grant_id, g.payload AS grant_payload, g.account_id AS grant_account_id,
      ${TOKEN_ACCOUNT_COLUMNS}
    FROM oidc_payloads t LEFT JOIN oidc_payloads g
      ON g.model = 'Grant' AND g.id = t.grant_id AND (g.expires_at IS NULL OR g.expires_at > $3)
    LEFT JOIN accounts a ON a.id = g.account_id
    WHERE t.model = $1 AND t.id = $2 AND (t.expires_at IS NULL OR t.expires_at > $3)`;
  // The same grant and account for a code kept in memory (sign-in-memory.ts), and the session the code
  // is bound to, which its exchange checks right after (oidc-provider's session binding): one read.
  const GRANT_WITH_ACCOUNT = `SELECT g.payload AS grant_payload, g.account_id AS grant_account_id, ${TOKEN_ACCOUNT_COLUMNS},
      (SELECT s.payload FROM oidc_payloads s WHERE s.model = 'Session' AND s.uid = $3
        AND (s.expires_at IS NULL OR s.expires_at > $2)) AS session_payload
    FROM oidc_payloads g LEFT JOIN accounts a ON a.id = g.account_id
    WHERE g.model = 'Grant' AND g.id = $1 AND (g.expires_at IS NULL OR g.expires_at > $2)`;

  const readOf = (ctx: object): ReadWithToken =>
    ((ctx as CarriesRead)[READ_WITH_TOKEN] ??= { grants: new Map(), accounts: new Map(), sessions: new Map() });

  /** What the request's token read brought along: the grant (null: gone) and its account. */
  function rememberReadWithToken(ctx: object, grantId: string, row: Omit<TokenRow, 'payload' | 'consumed_at' | 'grant_id'> | undefined): void {
    const read = readOf(ctx);
    read.grants.set(grantId, row?.grant_payload ?? null);
    if (row?.grant_account_id) read.accounts.set(row.grant_account_id, row.id ? tokenAccountRowOf(row as RawTokenAccountRow) : null);
  }

  async function writeRow(model: string, id: string, payload: AdapterPayload, expiresIn: number, consumedAt: number | null = null): Promise<void> {
    const expiresAt = expiresIn ? dateParam(new Date(clock.now().getTime() + expiresIn * 1000)) : null;
    // The look-up columns only where something looks rows up by them (the indexes are partial: NULLs
    // stay out, and each indexed value costs a WAL page per write): `uid` for Session.findByUid (an
    // interaction's uid is its id); `account_id` for the account's sessions and grants — its codes
    // and tokens are found through their grant (revoke.ts).
    const uid = model === 'Session' ? (payload.uid ?? null) : null;
    const accountId = model === 'Session' || model === 'Grant' ? (payload.accountId ?? null) : null;
    const consumed = consumedAt === null ? null : dateParam(new Date(consumedAt));
    await db.run(UPSERT, [model, id, JSON.stringify(payload), payload.grantId ?? null, payload.userCode ?? null, uid, accountId, expiresAt, consumed]);
  }

  // SQLite (one process): a sign-in in progress in memory — its login page's interaction and its
  // authorization code (sign-in-memory.ts). PostgreSQL: everything in the database.
  const inMemory = (model: 'Interaction' | 'AuthorizationCode') => (store.dialect === 'sqlite' && options.signInsInMemory
    ? new SignInMemory(options.signInsInMemory, () => clock.now().getTime(), (id, payload, expiresIn, consumedAt) => writeRow(model, id, payload, expiresIn, consumedAt))
    : null);
  const memories: Record<string, SignInMemory | null> = { Interaction: inMemory('Interaction'), AuthorizationCode: inMemory('AuthorizationCode') };

  return class SequelizeAdapter implements Adapter {
    name: string;
    /** Where this model's sign-ins in progress are kept, on SQLite; null: in the database. */
    private readonly memory: SignInMemory | null;
    constructor(name: string) {
      this.name = name;
      this.memory = memories[name] ?? null;
    }

    /** A grant or session written or deleted in this request is read again, never taken from the token's read. */
    private forgetReadWithToken(id: string): void {
      const ctx = this.name === 'Grant' || this.name === 'Session' ? requestContext() : undefined;
      if (!ctx) return;
      if (this.name === 'Grant') readWithTokenOf(ctx)?.grants.delete(id);
      else readWithTokenOf(ctx)?.sessions.clear();
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      this.forgetReadWithToken(id);
      const memory = this.memory;
      if (memory) {
        if (this.name !== 'Interaction' || SignInMemory.holdsInteraction(payload)) {
          const before = memory.get(id)?.json;
          await memory.set(id, JSON.stringify(payload), expiresIn, payload.grantId ?? null);
          // Saved with writes that were rolled back (the request fails): not kept either.
          // (Putting back what was there never grows the memory, so it spills nothing that could fail.)
          undoIfRolledBack(() => (before === undefined ? memory.delete(id) : void memory.set(id, before, expiresIn, payload.grantId ?? null).catch(() => undefined)));
          return;
        }
        // On to a step that must outlive the process (registration, second factor, consent).
        memory.delete(id);
        memory.noteInDatabase(id);
      }
      await writeRow(this.name, id, payload, expiresIn);
    }

    private async findWhere(key: keyof typeof FIND, value: string): Promise<AdapterPayload | undefined> {
      // Ids, uids and user codes come from requests (a client_id, a token). A NUL cannot be stored
      // and breaks the statement on SQLite and PostgreSQL alike (a 500, found by fuzzing): no such row.
      if (typeof value !== 'string' || value.includes('\u0000')) return undefined;
      const ctx = key === 'id' || (key === 'uid' && this.name === 'Session') ? requestContext() : undefined;
      if (ctx && (this.name === 'Grant' || key === 'uid')) {
        const read = readWithTokenOf(ctx);
        const taken = takeOnce(this.name === 'Grant' ? read?.grants : read?.sessions, value);
        if (taken !== undefined) return taken ? (JSON.parse(taken) as AdapterPayload) : undefined;
      }
      const withGrant = ctx !== undefined && READ_WITH_GRANT.has(this.name);
      const rows = await db.all<TokenRow>(withGrant ? FIND_WITH_GRANT : FIND[key], [this.name, value, dateParam(clock.now())]);
      const row = rows[0];
      if (!row) return undefined;
      if (withGrant && row.grant_id) rememberReadWithToken(ctx, row.grant_id, row);
      const payload = JSON.parse(row.payload) as AdapterPayload;
      // A truthy `consumed` lets the provider detect a replayed authorization code.
      const consumedAt = readDate(row.consumed_at);
      return consumedAt ? { ...payload, consumed: Math.floor(consumedAt.getTime() / 1000) } : payload;
    }

    find(id: string): Promise<AdapterPayload | undefined> {
      // Straight to the statement for the models kept in the database (every token): an async
      // wrapper here was one more promise and microtask on each userinfo.
      return this.memory ? this.findKept(this.memory, id) : this.findWhere('id', id);
    }

    private async findKept(memory: SignInMemory, id: string): Promise<AdapterPayload | undefined> {
      const kept = typeof id === 'string' ? memory.get(id) : undefined;
      if (!kept) {
        const stored = await this.findWhere('id', id);
        if (stored) memory.noteInDatabase(id);
        return stored;
      }
      const payload = JSON.parse(kept.json) as AdapterPayload;
      // A code's exchange reads its grant and the grant's account next: in one statement, as for a
      // code in the database (FIND_WITH_GRANT).
      const ctx = this.name === 'AuthorizationCode' && kept.grantId ? requestContext() : undefined;
      if (ctx && kept.grantId) {
        const sessionUid = payload.expiresWithSession && typeof payload.sessionUid === 'string' ? payload.sessionUid : null;
        const [row] = await db.all<Omit<TokenRow, 'payload' | 'consumed_at' | 'grant_id'> & { session_payload: string | null }>(
          GRANT_WITH_ACCOUNT, [kept.grantId, dateParam(clock.now()), sessionUid]);
        rememberReadWithToken(ctx, kept.grantId, row);
        if (row && sessionUid) readOf(ctx).sessions.set(sessionUid, row.session_payload);
      }
      // A truthy `consumed` lets the provider detect a replayed authorization code.
      return kept.consumedAt === null ? payload : { ...payload, consumed: Math.floor(kept.consumedAt / 1000) };
    }

    findByUid(uid: string) {
      return this.findWhere('uid', uid);
    }

    findByUserCode(userCode: string) {
      return this.findWhere('userCode', userCode);
    }

    async consume(id: string): Promise<void> {
      if (this.memory?.consume(id)) return;
      await db.run('UPDATE oidc_payloads SET consumed_at = $1 WHERE model = $2 AND id = $3', [dateParam(clock.now()), this.name, id]);
    }

    async destroy(id: string): Promise<void> {
      this.forgetReadWithToken(id);
      // One that lived in memory alone has no row to delete; one that also has a row (spilled, or
      // saved before a restart) must not come back from there once it is finished.
      if (this.memory && !this.memory.finish(id)) return;
      await db.run('DELETE FROM oidc_payloads WHERE model = $1 AND id = $2', [this.name, id]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      // Rare (a revoked grant, a replayed code): memory and database alike.
      this.memory?.revokeByGrantId(grantId);
      await db.run('DELETE FROM oidc_payloads WHERE model = $1 AND grant_id = $2', [this.name, grantId]);
    }
  };
}

/**
 * The account `accountId` as read together with this request's token (once; later calls get
 * `undefined`): a row, `null` when the token's grant names an account that is gone, `undefined` when
 * no token of this request brought it — then read it.
 */
export function takeAccountReadWithToken(accountId: string): TokenAccountRow | null | undefined {
  const ctx = requestContext();
  return takeOnce(ctx ? readWithTokenOf(ctx)?.accounts : undefined, accountId);
}

/** Rows one purge step looks at on SQLite: a few milliseconds of the event loop each. */
const PURGE_CHUNK_ROWS = 1000;

/**
 * Deletes provider rows past their expiry (run periodically; `find` already ignores them). On SQLite
 * `expires_at` has no index (migration 0011): the table is walked in rowid order, a chunk at a time,
 * with the event loop free between chunks.
 */
export async function purgeExpiredProviderState(store: Store, clock: Clock): Promise<number> {
  if (store.dialect !== 'sqlite') return store.models.OidcPayload.destroy({ where: { expiresAt: { [Op.lt]: clock.now() } } });
  const db = fastSql(store.sequelize);
  const now = dateParamFor(store.dialect)(clock.now());
  let deleted = 0;
  for (let after = 0; ;) {
    const [last] = await db.all<{ last: number | null }>(
      `SELECT max(rowid) AS last FROM (SELECT rowid FROM oidc_payloads WHERE rowid > $1 ORDER BY rowid ${limitClause(PURGE_CHUNK_ROWS)})`, [after]);
    if (last?.last == null) return deleted;
    deleted += await db.run('DELETE FROM oidc_payloads WHERE rowid > $1 AND rowid <= $2 AND expires_at < $3', [after, last.last, now]);
    after = last.last;
    await new Promise((resolve) => setImmediate(resolve));
  }
}
