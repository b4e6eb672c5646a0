// A CLIENT span per Kubernetes call (retries included), in the trace of the request that made
// it, over real HTTP against the in-process FAKE API server; none outside any trace.
import { SpanKind } from '@opentelemetry/api';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildWorkflow, createArgoClient, type ArgoClient } from '../../shared/argo/index.js';
import { inSpan } from '../../shared/telemetry/index.js';
import { sampleInput, sampleToken } from '../argo/sample.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { parentOf, recordSpans } from '../helpers/spans.js';

const NS = 'argo-workflows';
const rec = recordSpans();
let kube: FakeKube;
let client: ArgoClient;
beforeEach(async () => {
  rec.reset();
  kube = await startFakeKube();
  client = createArgoClient({ kubeConfig: kube.kubeConfig(), namespace: NS, retry: { attempts: 3, baseMs: 5, maxMs: 50 }, timeoutMs: 1000 });
});
afterEach(() => kube.close());
afterAll(() => rec.shutdown());

describe('Kubernetes calls', () => {
  it('are CLIENT spans under the request, one per call, the Workflow create among them', async () => {
    const wf = buildWorkflow(sampleInput());
    await inSpan('request', {}, async (request) => {
      await client.submit(wf, sampleToken());
      const spans = rec.spans().filter((s) => s.name.startsWith('kubernetes '));
      expect(spans).toHaveLength(kube.requests.length);
      for (const s of spans) {
        expect(s.kind).toBe(SpanKind.CLIENT);
        expect(parentOf(s)).toBe(request.spanContext().spanId);
        expect(s.attributes['k8s.namespace.name']).toBe(NS);
      }
      expect(spans.find((s) => s.name === 'kubernetes create workflow')?.attributes).toMatchObject({ 'k8s.request': `create workflow ${NS}/${wf.metadata.name}`, 'facteur.attempts': 1 });
    });
    // the Workflow carries the run's trace context for its steps, as given
    const stored = await kube.waitForCreate((w) => w.metadata.name === wf.metadata.name, 1_000);
    expect(stored.spec.arguments?.parameters?.find((p: { name: string; value?: string }) => p.name === 'traceparent')?.value).toBe(sampleInput().traceparent);
  });

  it('make no span outside any trace', async () => {
    await client.list();
    expect(rec.spans()).toEqual([]);
  });
});
