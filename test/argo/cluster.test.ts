// The same create → get → list → delete cycle as client.test.ts, against a real
// Kubernetes API server with the Argo CRDs installed. No cluster is reachable from the
// development and CI machines (see test/helpers/fake-kube.ts), so this runs only where
// KUBECONFIG points at one; the namespace comes from FACTEUR_TEST_NAMESPACE (default
// argo-workflows). The Workflow is deleted again before Argo has time to run much of it.
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { buildWorkflow, createArgoClient, kubeConfigFromEnv } from '../../shared/argo/index.js';
import { sampleInput } from './sample.js';

describe('ArgoClient against a real cluster', () => {
  it.skipIf(!process.env.KUBECONFIG)('creates, finds, lists and deletes a workflow', async () => {
    const namespace = process.env.FACTEUR_TEST_NAMESPACE ?? 'argo-workflows';
    const client = createArgoClient({ kubeConfig: kubeConfigFromEnv(), namespace, timeoutMs: 15_000 });
    const ideaId = `test-${randomUUID()}`;
    const wf = buildWorkflow(sampleInput({ ideaId, namespace, stage: 'planning' }));
    const name = wf.metadata.name ?? '';
    try {
      const first = await client.submit(wf);
      expect(first.created).toBe(true);
      expect(first.uid).not.toBe('');
      expect(await client.submit(wf)).toEqual({ ...first, created: false });
      expect((await client.get(name))?.metadata.uid).toBe(first.uid);
      expect((await client.list(`facteur.dev/idea=${ideaId}`)).map((w) => w.metadata.name)).toEqual([name]);
    } finally {
      await client.delete(name);
    }
    expect(await client.delete(name)).toBe(false);
  });
});
