// Local mode's start-up failures, each as ONE line that says what happened and what to do.
// A newcomer's first `npm start` must never answer with a stack trace (or with the 50 KB of
// minified WebAssembly glue Node prints around an uncaught PGlite abort).
import { isUnavailable, pgCode } from '../db/index.js';
import { FacteurError, ValidationError } from '../errors/index.js';

export class StartupError extends FacteurError {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The first line of an error's message, bounded: never a page of minified source. */
export function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const line = text.split('\n').find((l) => l.trim()) ?? text;
  return line.length > 300 ? `${line.slice(0, 300)}…` : line.trim();
}

/** Where DATABASE_URL points, without user or password. */
export function databaseTarget(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'DATABASE_URL (not a valid URL)';
  }
}

/** Failures of the database named by DATABASE_URL, in words. */
export function databaseStartupError(err: unknown, url: string): StartupError {
  const where = databaseTarget(url);
  const code = pgCode(err);
  if (isUnavailable(err) || code === 'ECONNREFUSED') {
    return new StartupError(
      'database_unreachable',
      `cannot reach the database at ${where} (${code ?? firstLine(err)}): start it or fix DATABASE_URL; unset DATABASE_URL to use the embedded database in FACTEUR_DATA_DIR`,
      { cause: err },
    );
  }
  if (code === '28P01' || code === '28000') {
    return new StartupError('database_refused', `the database at ${where} refused the login (${firstLine(err)}): fix the user or password in DATABASE_URL`, { cause: err });
  }
  if (code === '3D000') {
    return new StartupError('database_missing', `the database at ${where} does not exist: create it (createdb) or fix DATABASE_URL`, { cause: err });
  }
  return new StartupError('database_failed', `the database at ${where} failed at start (${code ? `${code}: ` : ''}${firstLine(err)})`, { cause: err });
}

/** The one line `npm start` prints for a failure, and whether the stack may follow. */
export function startupLine(err: unknown, what = 'local mode'): string {
  if (err instanceof StartupError) return err.message;
  if (err instanceof ValidationError && err.code === 'invalid_config') {
    const vars = err.issues.map((i) => `${i.path} (${i.message})`).join('; ');
    return `invalid configuration: ${vars}. Fix or unset these variables (README: Configuration) and start again`;
  }
  return `${what} could not start: ${firstLine(err)} (FACTEUR_LOG_LEVEL=debug shows the stack)`;
}

/**
 * FACTEUR_LOG_LEVEL=debug: the stacks of the error and its causes, each line bounded (a
 * frame inside minified WebAssembly glue is one enormous line).
 */
export function debugStack(err: unknown): string {
  const out: string[] = [];
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const lines = (e.stack ?? `${e.name}: ${e.message}`).split('\n').slice(0, 30).map((l) => (l.length > 300 ? `${l.slice(0, 300)}…` : l));
    out.push(`${depth ? 'caused by: ' : ''}${lines.join('\n')}`);
  }
  return out.join('\n');
}
