// A run's trace through the functions on real HTTP (FAKE Kubernetes API at the boundary),
// with the SDK in memory: the Workflow's TRACEPARENT is the idea's trace with the run's stage
// span as parent, stored on the run; a callback sent with it is that span's child; and the
// stage span exists, with that very span id, when the run ends another way (a cancel).
import { afterAll, describe, expect, it } from 'vitest';
import { parseTraceparent, runSpanId, runTraceparent } from '../../shared/telemetry/index.js';
import { parentOf, recordSpans } from '../helpers/spans.js';
import { postEvent } from '../helpers/http.js';
import { startSystem, submitIdea, tick, WorkflowWatch } from '../helpers/system.js';

const rec = recordSpans();
afterAll(() => rec.shutdown());

describe('a run\'s trace', () => {
  it('goes to the Workflow, comes back on its callbacks, and ends as the stage span', async () => {
    const sys = await startSystem({ FACTEUR_STATUS_TOKEN: 'ops-token' });
    try {
      const { ideaId } = await submitIdea(sys, { id: 'run-traced' });
      const [idea] = await sys.db.sql<{ trace_context: string }[]>`select trace_context from codex_kb.ideas where id = ${ideaId}`;
      const ideaTrace = parseTraceparent(idea!.trace_context)!;
      expect(ideaTrace).toBeDefined(); // a new root: the event carried none
      expect((await tick(sys)).dispatched).toBe(1);
      const step = await new WorkflowWatch(sys, ideaId).next();
      const expected = runTraceparent(idea!.trace_context, step.runId)!;
      expect(step.params.traceparent).toBe(expected);
      const [run] = await sys.db.sql<{ trace_context: string }[]>`select trace_context from codex_kb.task_runs where id = ${step.runId}`;
      expect(run!.trace_context).toBe(expected);
      const submit = rec.spans().find((s) => s.name === 'facteur.workflow.submit' && s.attributes['facteur.run_id'] === step.runId)!;
      expect(submit.spanContext().traceId).toBe(ideaTrace.traceId);

      // the step's callback, with the run's trace context as its parent
      const res = await fetch(step.params.callbackUrl!, {
        method: 'POST',
        headers: { authorization: `Bearer ${step.token}`, 'content-type': 'application/json', traceparent: step.params.traceparent! },
        body: JSON.stringify({ seq: 1, at: new Date().toISOString(), type: 'started' }),
      });
      expect(res.status).toBe(202);
      const callback = rec.spans().find((s) => s.name === 'POST /v1/runs/{runId}/events')!;
      expect(callback.spanContext().traceId).toBe(ideaTrace.traceId);
      expect(parentOf(callback)).toBe(runSpanId(step.runId));
      expect(callback.attributes).toMatchObject({ 'facteur.run_id': step.runId, 'http.response.status_code': 202 });

      // an operator's cancel ends the run: its stage span, under the idea's context, with the preset id
      const cancelled = await fetch(`${sys.urls.status}/v1/ideas/${ideaId}/cancel`, { method: 'POST', headers: { authorization: 'Bearer ops-token' } });
      expect(cancelled.status).toBe(200);
      const stage = rec.spans().find((s) => s.name === 'codex.planning')!;
      expect(stage).toBeDefined();
      expect(stage.spanContext()).toMatchObject({ traceId: ideaTrace.traceId, spanId: runSpanId(step.runId) });
      expect(parentOf(stage)).toBe(ideaTrace.spanId);
      expect(stage.attributes).toMatchObject({ 'facteur.run_id': step.runId, 'facteur.task_key': 'planning', 'facteur.run.status': 'cancelled', 'facteur.attempt': 1, 'facteur.workflow': step.name });
    } finally {
      await sys.close();
    }
  });

  it('dispatch takes a relayed record\'s trace from the structured event it holds, not from the delivery', async () => {
    const sys = await startSystem();
    try {
      rec.reset();
      const { ideaId } = await submitIdea(sys, { id: 'relayed' });
      const relayed = `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`;
      const delivery = `00-${'c'.repeat(32)}-${'d'.repeat(16)}-01`;
      const value = { specversion: '1.0', id: 'e-1', type: 'facteur.idea.registered', source: '/facteur/intake', data: { ideaId }, traceparent: relayed };
      const res = await postEvent(sys.urls.dispatch, { topic: 'facteur.events', body: JSON.stringify(value), headers: { traceparent: delivery } });
      expect(res.status).toBe(200);
      const span = rec.spans().find((s) => s.name === 'facteur.dispatch')!;
      expect(span.spanContext().traceId).toBe('a'.repeat(32));
      expect(parentOf(span)).toBe('b'.repeat(16));
      expect(span.attributes).toMatchObject({ 'facteur.idea_id': ideaId, 'facteur.dispatched': 1, 'cloudevents.event_type': 'dev.knative.kafka.event' });
    } finally {
      await sys.close();
    }
  });
});
