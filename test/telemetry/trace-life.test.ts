// One trace per idea, end to end: local mode as a real process exporting to a FAKE OTLP/HTTP
// collector, an Idea Spec sent with a `ce-traceparent`, the whole life run by the example
// stages (their own processes, exporting too). Every span of the idea is in the trace the
// sender started, and the parent links hold: sender → intake → publish → dispatch → workflow
// submit; stage span → agent → callback → the successor's submission.
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { runSpanId } from '../../shared/telemetry/traceparent.js';
import { startFakeCollector, type FakeCollector, type ReceivedSpan } from '../helpers/fake-otlp.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { freePort } from '../helpers/spawn.js';
import { removeDir, startLocalProcess, stop, tempDir, until, type Proc } from '../local/proc.js';

const dataDir = tempDir('facteur-trace-');
let collector: FakeCollector | undefined;
let local: Proc | undefined;
afterAll(async () => {
  if (local) await stop(local, 'SIGKILL');
  await collector?.close();
  removeDir(dataDir);
});

interface Run { id: string; taskId: string; attempt: number; status: string; workflowName: string; traceId: string | null; costUsd: number }
interface Detail { idea: { status: string; traceId: string | null }; tasks: { id: string; key: string; stage: string }[]; runs: Run[] }

describe('tracing a whole local-mode life', () => {
  it('puts every span of the idea in the sender\'s trace, with the parent links of its life', async () => {
    collector = await startFakeCollector();
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    local = await startLocalProcess({
      FACTEUR_DATA_DIR: dataDir, PORT: String(port), FACTEUR_MONITOR_WINDOW_S: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_BSP_SCHEDULE_DELAY: '200',
    });
    const traceId = randomBytes(16).toString('hex');
    const senderSpan = randomBytes(8).toString('hex');
    const posted = await postEvent(url, {
      topic: 'codex.intent', path: '/intake', body: JSON.stringify(ideaSpec({ id: 'traced-1', repository: 'local/sample' })),
      headers: { 'ce-traceparent': `00-${traceId}-${senderSpan}-01` },
    });
    expect(posted.status).toBe(202);
    const ideaId = posted.body.ideaId as string;
    const detail = async () => (await (await fetch(`${url}/status/v1/ideas/${ideaId}`)).json()) as Detail;
    const done = await until('the idea completed', async () => {
      const d = await detail();
      return d.idea.status === 'completed' ? d : undefined;
    }, 120_000);
    // the status API shows the trace, on the idea and on every run
    expect(done.idea.traceId).toBe(traceId);
    expect(done.runs).toHaveLength(7);
    for (const r of done.runs) expect(r.traceId).toBe(traceId);

    // a clean stop flushes what local mode still buffers (the stages flushed at their exit)
    expect(await stop(local)).toBe(0);
    local = undefined;
    expect(collector.refused).toEqual([]);
    const spans = collector.spans;
    const ofIdea = spans.filter((s) => s.attributes['facteur.idea_id'] === ideaId);
    expect(ofIdea.length).toBeGreaterThan(20);
    for (const s of ofIdea) expect({ name: s.name, traceId: s.traceId }).toEqual({ name: s.name, traceId });
    const trace = spans.filter((s) => s.traceId === traceId);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    expect(new Set(trace.map((s) => s.service))).toEqual(new Set(['facteur-local', 'facteur-agent']));
    const ancestors = (s: ReceivedSpan): ReceivedSpan[] => {
      const out: ReceivedSpan[] = [];
      for (let p = s.parentSpanId ? byId.get(s.parentSpanId) : undefined; p; p = p.parentSpanId ? byId.get(p.parentSpanId) : undefined) out.push(p);
      return out;
    };
    const one = (name: string, where: (s: ReceivedSpan) => boolean = () => true) => {
      const found = trace.filter((s) => s.name === name && where(s));
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };

    // sender → intake → publish (the in-process bus) → dispatch → the planning run's submission
    const intake = one('facteur.intake');
    expect(intake.parentSpanId).toBe(senderSpan);
    expect(intake.attributes).toMatchObject({ 'cloudevents.event_type': 'dev.knative.kafka.event', 'cloudevents.event_source': expect.stringContaining('#codex.intent'), 'facteur.idea_id': ideaId });
    expect(intake.attributes['cloudevents.event_id']).toEqual(expect.any(String));
    const registered = one('send facteur.events', (s) => s.attributes['cloudevents.event_type'] === 'facteur.idea.registered');
    expect(registered.parentSpanId).toBe(intake.spanId);
    expect(registered.attributes).toMatchObject({ 'messaging.system': 'facteur-local-bus', 'messaging.destination.name': 'facteur.events' });
    const dispatched = trace.filter((s) => s.name === 'facteur.dispatch' && s.parentSpanId === registered.spanId);
    expect(dispatched).toHaveLength(1);
    const planning = done.runs.find((r) => r.taskId === done.tasks.find((t) => t.key === 'planning')!.id)!;
    const submitOf = (run: Run) => one('facteur.workflow.submit', (s) => s.attributes['facteur.run_id'] === run.id);
    expect(ancestors(submitOf(planning)).map((s) => s.spanId)).toContain(dispatched[0]!.spanId);

    // a stage span per run, its id the one the run's steps were given, under the idea's context
    for (const run of done.runs) {
      const task = done.tasks.find((t) => t.id === run.taskId)!;
      const stage = one(`codex.${task.stage}`, (s) => s.attributes['facteur.run_id'] === run.id);
      expect(stage.spanId).toBe(runSpanId(run.id));
      expect(stage.parentSpanId).toBe(intake.spanId);
      expect(stage.attributes).toMatchObject({
        'facteur.idea_id': ideaId, 'facteur.task_key': task.key, 'facteur.attempt': 1, 'facteur.stage': task.stage,
        'facteur.run.status': 'succeeded', 'facteur.workflow': run.workflowName, 'facteur.cost_usd': run.costUsd,
      });
      expect(stage.endMs).toBeGreaterThanOrEqual(stage.startMs);
      // the run's callbacks: the agent's span under the stage span, its reports under it, the callbacks function's under those
      const callbacks = trace.filter((s) => s.name === 'POST /v1/runs/{runId}/events' && s.attributes['facteur.run_id'] === run.id);
      expect(callbacks.length).toBeGreaterThanOrEqual(2); // started … completed
      for (const c of callbacks) {
        const chain = ancestors(c);
        expect(chain[0]).toMatchObject({ name: 'POST callbacks', service: 'facteur-agent' });
        expect(chain.map((s) => s.spanId)).toContain(stage.spanId);
      }
    }
    // the settling of a run is a transaction of the callback that reported its end
    const settling = trace.filter((s) => s.name === 'db.transaction' && ancestors(s)[0]?.name === 'POST /v1/runs/{runId}/events');
    expect(settling.length).toBeGreaterThanOrEqual(done.runs.length);
    expect(settling[0]!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'facteur.db.locks': 1 });
    const monitoring = one('codex.monitoring');
    expect(monitoring).toMatchObject({ parentSpanId: intake.spanId, attributes: expect.objectContaining({ 'facteur.monitoring.outcome': 'completed' }) });

    // successors: submitted from the callback that completed their predecessor, in the same trace
    const successors = done.runs.filter((r) => r.id !== planning.id);
    const fromCallback = successors.filter((r) => ancestors(submitOf(r)).some((s) => s.name === 'POST /v1/runs/{runId}/events'));
    expect(fromCallback.length).toBeGreaterThan(0);
    const plannedBy = ancestors(submitOf(fromCallback[0]!)).find((s) => s.name === 'POST /v1/runs/{runId}/events')!;
    expect(done.runs.map((r) => r.id)).toContain(plannedBy.attributes['facteur.run_id']);
  }, 180_000);
});
