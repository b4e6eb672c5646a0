// Errors say what the caller should do. Only the function adapters (functions/*) map them
// to HTTP status codes; shared/ code throws these and never speaks HTTP.

export interface Issue {
  /** Where the problem is, as a dotted path into the input (`tasks.2.dependsOn`). */
  readonly path: string;
  readonly message: string;
}

export abstract class FacteurError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The input is wrong and will stay wrong: do not retry; every problem is listed. */
export class ValidationError extends FacteurError {
  readonly code: string;
  readonly issues: readonly Issue[];
  constructor(message: string, issues: readonly Issue[], code = 'invalid_input', options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.issues = Object.freeze([...issues]);
  }
}

/** The request was understood but cannot succeed as sent (unsupported type, too large…). */
export class NonRetriableError extends FacteurError {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** Transient: the same call may succeed later (database down, upstream 5xx). */
export class RetryableError extends FacteurError {
  constructor(
    readonly code: string,
    message: string,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The caller lost a race or is fenced off (stale attempt, finished run): do not retry. */
export class ConflictError extends FacteurError {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The run-failure codes that no new attempt can fix: the stage's result is invalid and will
 * stay so (a rejected plan), or the run's Workflow cannot be built or is refused by the
 * cluster. A run that fails with one of these stops its task at once; every other failure is
 * retried with backoff until the task's max attempts. The one list, read by `isTerminal`.
 */
export const TERMINAL_RUN_FAILURES = ['invalid_plan', 'invalid_workflow', 'submit_rejected'] as const;
export type TerminalRunFailure = (typeof TERMINAL_RUN_FAILURES)[number];

const terminalRunFailures: ReadonlySet<string> = new Set(TERMINAL_RUN_FAILURES);

/** Whether a run that failed with this error code must not be retried. */
export function isTerminal(code: string | null | undefined): code is TerminalRunFailure {
  return typeof code === 'string' && terminalRunFailures.has(code);
}

/**
 * A stage's run reported success without the result its stage must produce, or with one that
 * cannot be used: the run fails with `code`. `terminal` when a new attempt cannot fix it.
 */
export class StageResultError extends NonRetriableError {
  get terminal(): boolean {
    return isTerminal(this.code);
  }
}

export class NotFoundError extends FacteurError {
  readonly code = 'not_found';
}

/** No valid credentials. `code` says why (e.g. `token_expired`), never what was sent. */
export class UnauthorizedError extends FacteurError {
  readonly code: string;
  constructor(message: string, code = 'unauthorized', options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

/**
 * The caller is known but may not do this: the message names what is missing (the role a
 * route needs, or `actFor` for naming another person), never which other credentials exist.
 */
export class ForbiddenError extends FacteurError {
  readonly code: string;
  constructor(message: string, code = 'forbidden', options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
