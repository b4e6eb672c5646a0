// PostgreSQL SQLSTATE codes Facteur reacts to, by name (never by message text).
export const PgCode = Object.freeze({
  UNIQUE_VIOLATION: '23505',
  FOREIGN_KEY_VIOLATION: '23503',
  CHECK_VIOLATION: '23514',
  NOT_NULL_VIOLATION: '23502',
  RAISE_EXCEPTION: 'P0001',
  SERIALIZATION_FAILURE: '40001',
  DEADLOCK_DETECTED: '40P01',
  LOCK_NOT_AVAILABLE: '55P03',
  QUERY_CANCELED: '57014',
  ADMIN_SHUTDOWN: '57P01',
  CRASH_SHUTDOWN: '57P02',
  CANNOT_CONNECT_NOW: '57P03',
  TOO_MANY_CONNECTIONS: '53300',
  INVALID_CATALOG_NAME: '3D000',
  INSUFFICIENT_PRIVILEGE: '42501',
});

/** postgres.js client-side codes for a connection that could not be made or was lost. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

export function pgCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** True when the database could not be reached or went away: the caller should retry later. */
export function isUnavailable(err: unknown): boolean {
  const code = pgCode(err);
  if (code === undefined) return false;
  return (
    CONNECTION_CODES.has(code) ||
    code === PgCode.ADMIN_SHUTDOWN ||
    code === PgCode.CRASH_SHUTDOWN ||
    code === PgCode.CANNOT_CONNECT_NOW ||
    code === PgCode.TOO_MANY_CONNECTIONS
  );
}

/**
 * True when the statement lost a race with another transaction (a deadlock the server broke,
 * a serialization failure, a lock it could not wait for): nothing it did was kept, and the
 * same statement run again can succeed.
 */
export function isContention(err: unknown): boolean {
  const code = pgCode(err);
  return code === PgCode.DEADLOCK_DETECTED || code === PgCode.SERIALIZATION_FAILURE || code === PgCode.LOCK_NOT_AVAILABLE;
}
