// The same create → get → list → delete cycle as client.test.ts, against a real
// Kubernetes API server with the Argo CRDs installed. No cluster is reachable from the
// development and CI machines (see test/helpers/fake-kube.ts), so this runs only where
// KUBECONFIG points at one; the namespace comes from FACTEUR_TEST_NAMESPACE (default
// argo-workflows). The Workflow is deleted again before Argo has time to run much of it;
// its run-token Secret goes with it (the cluster's garbage collector, not waited for here).
import { randomUUID } from 'node:crypto';
import { CoreV1Api } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildWorkflow, createArgoClient, kubeConfigFromEnv, tokenOf, tokenSecretName } from '../../shared/argo/index.js';
import { SAMPLE_TOKEN, sampleInput, sampleToken } from './sample.js';

describe('ArgoClient against a real cluster', () => {
  it.skipIf(!process.env.KUBECONFIG)('creates, finds, lists and deletes a workflow', async () => {
    const namespace = process.env.FACTEUR_TEST_NAMESPACE ?? 'argo-workflows';
    const client = createArgoClient({ kubeConfig: kubeConfigFromEnv(), namespace, timeoutMs: 15_000 });
    const ideaId = `test-${randomUUID()}`;
    const wf = buildWorkflow(sampleInput({ ideaId, namespace, stage: 'planning' }));
    const name = wf.metadata.name ?? '';
    try {
      const first = await client.submit(wf, sampleToken());
      expect(first.created).toBe(true);
      expect(first.uid).not.toBe('');
      expect(await client.submit(wf, sampleToken())).toEqual({ ...first, created: false });
      const secret = await kubeConfigFromEnv().makeApiClient(CoreV1Api).readNamespacedSecret({ name: tokenSecretName(name), namespace });
      expect(tokenOf(secret as { data?: Record<string, string> })).toBe(SAMPLE_TOKEN);
      expect(secret.metadata?.ownerReferences?.map((r) => r.uid)).toEqual([first.uid]);
      expect((await client.get(name))?.metadata.uid).toBe(first.uid);
      expect((await client.list(`facteur.dev/idea=${ideaId}`)).map((w) => w.metadata.name)).toEqual([name]);
    } finally {
      await client.delete(name);
    }
    expect(await client.delete(name)).toBe(false);
  });
});
