// The run-token Secret beside each Workflow: a pure function of the Workflow and the token,
// valid against the v1 Secret schema, mapping back to its run, and the Workflow's to own.
import { Secret as SecretModel } from 'kubernetes-models/v1/Secret';
import { describe, expect, it } from 'vitest';
import { Secret } from '../../shared/config/secret.js';
import { ValidationError } from '../../shared/errors/index.js';
import {
  OWNER_PENDING,
  STAGES,
  buildRunTokenSecret,
  buildWorkflow,
  isDnsSubdomain,
  isLabelValue,
  ownerReference,
  tokenOf,
  tokenSecretName,
  type Workflow,
} from '../../shared/argo/index.js';
import { SAMPLE_TOKEN, sampleInput, sampleToken } from './sample.js';

const UID = '3f1c2b7a-9d5e-4f0a-8b1c-7e6d5c4b3a29';

describe('buildRunTokenSecret', () => {
  it.each(STAGES.flatMap((stage) => [{ stage, taskKey: 'api-auth' }, { stage, taskKey: 'k'.repeat(400) }, { stage, taskKey: 'Ünïcödé ✨ 任务' }]))(
    'validates against the v1 Secret schema ($stage, $taskKey)',
    ({ stage, taskKey }) => {
      const wf = buildWorkflow(sampleInput({ stage, taskKey }));
      for (const secret of [buildRunTokenSecret(wf, sampleToken()), buildRunTokenSecret(wf, sampleToken(), UID)]) {
        expect(() => new SecretModel(secret as never).validate()).not.toThrow();
        expect(secret.metadata.name).toBe(`${wf.metadata.name}-token`);
        expect(isDnsSubdomain(secret.metadata.name)).toBe(true);
        expect(secret.metadata.name.length).toBeLessThanOrEqual(253);
        for (const [key, value] of Object.entries(secret.metadata.labels ?? {})) expect(isLabelValue(value), `${key}=${value}`).toBe(true);
      }
    },
  );

  it('holds the token under `token`, and says which idea, task, run and attempt it is for', () => {
    const input = sampleInput({ stage: 'review', attempt: 3 });
    const wf = buildWorkflow(input);
    const secret = buildRunTokenSecret(wf, sampleToken());
    expect(secret).toMatchObject({ apiVersion: 'v1', kind: 'Secret', type: 'Opaque' });
    expect(secret.data).toEqual({ token: Buffer.from(SAMPLE_TOKEN).toString('base64') });
    expect(tokenOf(secret)).toBe(SAMPLE_TOKEN);
    expect(secret.metadata.namespace).toBe(wf.metadata.namespace);
    expect(secret.metadata.labels).toEqual({
      'codex.stage': 'review',
      'facteur.dev/idea': wf.metadata.labels!['facteur.dev/idea'],
      'facteur.dev/task': 'api-auth',
      'facteur.dev/run': input.runId,
      'facteur.dev/attempt': '3',
      'app.kubernetes.io/managed-by': 'facteur',
      'app.kubernetes.io/component': 'run-token',
      [OWNER_PENDING]: 'true',
    });
    expect(secret.metadata.annotations).toEqual({ 'facteur.dev/workflow': wf.metadata.name, 'facteur.dev/run-id': input.runId });
    // the token is in data only: no label or annotation carries it
    expect(JSON.stringify(secret.metadata)).not.toContain(SAMPLE_TOKEN);
    expect(Object.isFrozen(secret.data)).toBe(true);
  });

  it('is owned by the Workflow once its uid is known: no owner-pending mark then', () => {
    const wf = buildWorkflow(sampleInput());
    const owned = buildRunTokenSecret(wf, sampleToken(), UID);
    expect(owned.metadata.ownerReferences).toEqual([
      { apiVersion: 'argoproj.io/v1alpha1', kind: 'Workflow', name: wf.metadata.name, uid: UID, blockOwnerDeletion: false },
    ]);
    expect(owned.metadata.labels).not.toHaveProperty(OWNER_PENDING);
    expect(buildRunTokenSecret(wf, sampleToken()).metadata.ownerReferences).toBeUndefined();
    expect(ownerReference({ metadata: { name: wf.metadata.name, uid: UID } })).toEqual(owned.metadata.ownerReferences![0]);
  });

  it('is deterministic, and a new attempt gets another name', () => {
    const wf = buildWorkflow(sampleInput());
    expect(buildRunTokenSecret(wf, sampleToken())).toEqual(buildRunTokenSecret(wf, SAMPLE_TOKEN));
    const next = buildWorkflow(sampleInput({ attempt: 2 }));
    expect(buildRunTokenSecret(next, sampleToken()).metadata.name).not.toBe(buildRunTokenSecret(wf, sampleToken()).metadata.name);
    expect(tokenSecretName('facteur-x-a1')).toBe('facteur-x-a1-token');
  });

  it('rejects a token that cannot go into an HTTP header, and a workflow without a usable name, listing both', () => {
    const wf = structuredClone(buildWorkflow(sampleInput())) as Workflow;
    wf.metadata.name = 'Not A Name';
    let caught: unknown;
    try {
      buildRunTokenSecret(wf, new Secret('tok en\n'));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ValidationError);
    expect((caught as ValidationError).issues.map((i) => i.path).sort()).toEqual(['token', 'workflow.metadata.name']);
    // and the message never carries the token
    expect(JSON.stringify((caught as ValidationError).issues)).not.toContain('tok en');
    expect(() => buildRunTokenSecret(buildWorkflow(sampleInput()), '')).toThrow(ValidationError);
    const noUid = (() => {
      try {
        return ownerReference({ metadata: { name: 'x' } });
      } catch (err) {
        return err;
      }
    })();
    expect((noUid as ValidationError).issues).toEqual([{ path: 'metadata.uid', message: 'is required (the Workflow must exist)' }]);
  });
});
