// W3C Trace Context `traceparent` values (https://www.w3.org/TR/trace-context/#traceparent-header):
// `00-<trace id: 32 hex>-<parent span id: 16 hex>-<flags: 2 hex>`, lower case only. Every
// traceparent Facteur reads comes from outside (a CloudEvent, an HTTP header, an env var of
// a workflow step) and is stored and passed on, so a value that is not exactly this shape is
// ignored, never repaired: the caller starts a new root instead.
import { createHash, randomBytes } from 'node:crypto';

export interface TraceParent {
  readonly traceId: string;
  readonly spanId: string;
  /** The trace flags byte; bit 0 is "sampled". */
  readonly flags: number;
}

const SHAPE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/**
 * The traceparent in `value`, or undefined when it is not a valid version-00 one. Version 00
 * only: `ff` is forbidden by the spec, and a future version's extra fields are nothing
 * Facteur could pass on faithfully. All-zero ids are invalid by the spec.
 */
export function parseTraceparent(value: unknown): TraceParent | undefined {
  if (typeof value !== 'string' || value.length !== 55) return undefined;
  const m = SHAPE.exec(value);
  if (!m) return undefined;
  const [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}

export function formatTraceparent(tp: TraceParent): string {
  return `00-${tp.traceId}-${tp.spanId}-${(tp.flags & 0xff).toString(16).padStart(2, '0')}`;
}

/** The value itself when valid, else undefined (for values that are only passed on). */
export function validTraceparent(value: unknown): string | undefined {
  const tp = parseTraceparent(value);
  return tp ? formatTraceparent(tp) : undefined;
}

/** 32 hex, or null: the form the status API shows. */
export function traceIdOf(value: unknown): string | null {
  return parseTraceparent(value)?.traceId ?? null;
}

/** A new trace, sampled: for an idea whose CloudEvent carried no (valid) traceparent. */
export function newRootTraceparent(): string {
  return formatTraceparent({ traceId: nonZeroHex(16), spanId: nonZeroHex(8), flags: 1 });
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const hex = randomBytes(bytes).toString('hex');
    if (!/^0+$/.test(hex)) return hex;
  }
}

/**
 * The span id of a run's stage span, known before the run starts: derived from the run id,
 * so every process that handles the run (dispatch at submission and resubmission, the step
 * in its Workflow, callbacks at the end) computes the same one without storing it first.
 */
export function runSpanId(runId: string): string {
  const hex = createHash('sha256').update(`facteur-run:${runId}`).digest('hex').slice(0, 16);
  return hex === ZERO_SPAN ? '0000000000000001' : hex;
}

/**
 * A run's trace context: the idea's trace, with the run's stage span as the parent. This is
 * what the Workflow gets as TRACEPARENT, so the steps' callbacks are children of the stage
 * span. Undefined when the idea has no valid trace context (ideas registered before tracing).
 */
export function runTraceparent(ideaTraceparent: unknown, runId: string): string | undefined {
  const idea = parseTraceparent(ideaTraceparent);
  return idea ? formatTraceparent({ traceId: idea.traceId, spanId: runSpanId(runId), flags: idea.flags }) : undefined;
}
