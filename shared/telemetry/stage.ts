// Stage spans: `codex.<stage>` from a run's start to its end, and `codex.monitoring` for an
// idea's monitoring window. A stage runs for minutes across processes (dispatch submits, the
// Workflow's steps call back, callbacks settles), so no process could hold the span open:
// it is made when the run ends, with the start and end times the database recorded, as a
// child of the idea's trace context. Its span id is the run's (`runSpanId`), which the run's
// steps already used as the parent of their callbacks (TRACEPARENT = `runTraceparent`), so
// the callbacks' spans hang under the stage span once it is exported.
import { SpanStatusCode, type Attributes } from '@opentelemetry/api';
import { contextFrom, SpanKind, startSpan, startSpanWithId } from './tracing.js';
import { parseTraceparent, runSpanId } from './traceparent.js';

/** The prefix of every stage span's name (seed 001 §10: `codex.planning`, `codex.implementation` …). */
export const STAGE_SPAN_PREFIX = 'codex.';

export interface EndedRun {
  readonly id: string;
  readonly idea_id: string;
  readonly task_key: string | null;
  readonly stage: string;
  readonly attempt: number;
  readonly status: string;
  readonly external_run_id: string | null;
  readonly queued_at: Date;
  readonly submitted_at: Date | null;
  readonly started_at: Date | null;
  readonly completed_at: Date | null;
  readonly cost_usd: string | number | null;
  readonly usage: Record<string, unknown> | null;
  readonly error_code: string | null;
  readonly trace_context: string | null;
  readonly idea_trace_context: string | null;
}

export function recordStageSpan(run: EndedRun): void {
  const end = run.completed_at ?? new Date();
  const start = run.started_at ?? run.submitted_at ?? run.queued_at;
  const usage = run.usage ?? {};
  const number = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  const input = number(usage['inputTokens']);
  const output = number(usage['outputTokens']);
  const attributes: Attributes = {
    'facteur.idea_id': run.idea_id,
    ...(run.task_key ? { 'facteur.task_key': run.task_key } : {}),
    'facteur.run_id': run.id,
    'facteur.attempt': run.attempt,
    'facteur.stage': run.stage,
    'facteur.run.status': run.status,
    ...(run.external_run_id ? { 'facteur.workflow': run.external_run_id } : {}),
    'facteur.queued_at': run.queued_at.toISOString(),
    'facteur.cost_usd': Number(run.cost_usd ?? 0),
    ...(input !== undefined ? { 'gen_ai.usage.input_tokens': input } : {}),
    ...(output !== undefined ? { 'gen_ai.usage.output_tokens': output } : {}),
    ...(run.error_code ? { 'error.type': run.error_code } : {}),
  };
  const spanId = parseTraceparent(run.trace_context)?.spanId ?? runSpanId(run.id);
  const span = startSpanWithId(spanId, `${STAGE_SPAN_PREFIX}${run.stage}`, {
    kind: SpanKind.INTERNAL,
    parent: contextFrom(run.idea_trace_context),
    attributes,
    startTime: start,
  });
  if (run.status === 'failed') span.setStatus({ code: SpanStatusCode.ERROR, message: run.error_code ?? 'failed' });
  span.end(end < start ? start : end);
}

/** The monitoring window of an idea, from its deploy's end to the window's outcome. */
export function recordMonitoringSpan(m: { ideaId: string; since: Date; outcome: string; ideaTraceContext: string | null }): void {
  const now = new Date();
  const span = startSpan(`${STAGE_SPAN_PREFIX}monitoring`, {
    parent: contextFrom(m.ideaTraceContext),
    attributes: { 'facteur.idea_id': m.ideaId, 'facteur.stage': 'monitoring', 'facteur.monitoring.outcome': m.outcome },
    startTime: m.since,
  });
  if (m.outcome === 'remediation') span.setStatus({ code: SpanStatusCode.ERROR, message: 'regression' });
  span.end(now < m.since ? m.since : now);
}
