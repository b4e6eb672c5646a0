// The one narrow database interface handed to every component: a postgres.js pool, a
// transaction helper, and transaction-scoped advisory locks. Nothing here connects at import.
import postgres from 'postgres';
import { RetryableError } from '../errors/index.js';
import { isUnavailable } from './errors.js';
import { inTracedSpan, SpanKind } from '../telemetry/tracing.js';

export { PgCode, pgCode, isUnavailable, isContention } from './errors.js';
export { migrate, defaultMigrationsDir, type MigrationResult } from './migrate.js';

export type Sql = postgres.Sql<Record<string, unknown>>;
export type Tx = postgres.TransactionSql<Record<string, unknown>>;
/** Anything that runs queries: the pool or an open transaction. */
export type Queryable = Sql | Tx;

export interface ConnectOptions {
  readonly max?: number;
  readonly connectTimeoutS?: number;
  readonly idleTimeoutS?: number;
  readonly applicationName?: string;
}

export function connect(url: string, opts: ConnectOptions = {}): Sql {
  return postgres(url, {
    max: opts.max ?? 10,
    connect_timeout: opts.connectTimeoutS ?? 5,
    idle_timeout: opts.idleTimeoutS ?? 60,
    // A long-lived pooled connection is recycled now and then, so server-side memory
    // (prepared statements, caches) cannot grow without bound in a long-running instance.
    max_lifetime: 60 * 30,
    // postgres.js waits before each reconnect, growing 3^n/100 s up to 20 s with a failure
    // count shared by the whole pool and reset only by a successful connect: a database
    // restart of a second or two under load left every instance stalled for 10–20 s after
    // the database was back (found by `npm run chaos`). Capped at 1 s instead.
    backoff: reconnectDelayS,
    onnotice: () => {},
    connection: { application_name: opts.applicationName ?? 'facteur' },
  }) as Sql;
}

/** Seconds before a reconnect after `failures` failed connects: 50 ms doubling, at most 1 s, jittered. */
export function reconnectDelayS(failures: number): number {
  return (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** failures, 1);
}

/**
 * Runs `fn` in a transaction (commit on return, rollback on throw), holding the
 * transaction-scoped advisory locks on `locks` (sorted; see lockXact) before any statement of
 * `fn` runs — its code before its first statement may run before they are held, so it must
 * do nothing outside the database there (none of the callers does). A
 * database that cannot be reached becomes a RetryableError, so adapters answer 503 and
 * the sender retries. Each transaction is a span (postgres.js has no instrumentation of
 * its own) when a trace is active; what `afterCommit` queued on `tx` runs once it committed.
 */
export async function transaction<T>(sql: Sql, locks: readonly string[], fn: (tx: Tx) => Promise<T>): Promise<T> {
  const hooks: (() => void)[] = [];
  const run = async () => {
    try {
      return (await sql.begin(async (t) => {
        const tx = t as Tx;
        COMMIT_HOOKS.set(tx, hooks);
        // The locks are sent with fn's first statement, not a round trip before it: the one
        // connection runs them in order, so every statement of fn runs once they are held. A
        // lock that fails aborts the transaction, and postgres.js throws the lock's error for
        // the statements after it, not the aborted transaction's. (test/db/transaction.test.ts)
        const locked = locks.length ? sendLocks(tx, locks) : undefined;
        locked?.catch(() => {}); // when fn fails first, its error is the one thrown
        const result = await fn(tx);
        await locked;
        return result;
      })) as T;
    } catch (err) {
      throw asRetryable(err);
    }
  };
  // a span only within a trace (a request's): a transaction of a local-mode tick is no trace of its own
  const result = await inTracedSpan('db.transaction', { kind: SpanKind.CLIENT, attributes: transactionAttributes(locks) }, run);
  for (const hook of hooks) {
    try {
      hook();
    } catch {
      // an after-commit hook (telemetry) never fails what committed
    }
  }
  return result;
}

// the database semantic conventions; lock keys name scopes (`idea:<uuid>`), not data
function transactionAttributes(locks: readonly string[]) {
  return { 'db.system.name': 'postgresql', 'db.operation.name': 'transaction', 'facteur.db.locks': locks.length };
}

const COMMIT_HOOKS = new WeakMap<Tx, (() => void)[]>();

/**
 * Runs `fn` after `tx` committed (never when it rolled back), for effects outside the
 * database that must not claim what did not happen, such as a stage span. Outside a
 * `transaction()` (a caller's own `sql.begin`, the pool) it runs at once.
 */
export function afterCommit(tx: Queryable, fn: () => void): void {
  const hooks = COMMIT_HOOKS.get(tx as Tx);
  if (hooks) hooks.push(fn);
  else fn();
}

export function asRetryable(err: unknown): unknown {
  if (isUnavailable(err)) {
    return new RetryableError('database_unavailable', 'the database is unreachable; retry later', 1000, { cause: err });
  }
  return err;
}

/**
 * Takes transaction-scoped advisory locks on namespaced keys (`idea:<uuid>`,
 * `limit:stage:implementation`), in sorted order so two callers never deadlock on them.
 * Released by commit/rollback; never session-scoped (pooled, scale-to-zero processes).
 */
export async function lockXact(tx: Tx, ...keys: string[]): Promise<void> {
  await sendLocks(tx, keys);
}

/** One statement per key, all sent at once in sorted order: the connection takes them in that order. */
function sendLocks(tx: Tx, keys: readonly string[]): Promise<unknown> {
  return Promise.all([...new Set(keys)].sort().map((key) => tx`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute()));
}
