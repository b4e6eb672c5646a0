// A realistic WorkflowInput for tests, with overrides, and a run token to submit it with.
import type { WorkflowInput } from '../../shared/argo/index.js';
import { Secret } from '../../shared/config/secret.js';

export const SAMPLE_TOKEN = 'v1.Zm9vYmFy.c2lnbmF0dXJl';
export const sampleToken = (value = SAMPLE_TOKEN) => new Secret(value);

export function sampleInput(overrides: Partial<WorkflowInput> = {}): WorkflowInput {
  return {
    ideaId: '7b0e6f7e-2a43-4a5e-9d7c-2b9f4c7f0a11',
    taskKey: 'api-auth',
    stage: 'implementation',
    attempt: 1,
    runId: '0d9c2a52-6a61-4d0e-8f3e-1b1e3f0b9c77',
    repository: 'acme/widgets',
    head: 'codex/issue-42-api-auth',
    base: 'main',
    issueNumber: '42',
    rawEvent: { action: 'opened', issue: { number: 42, title: 'Add auth' } },
    eventBody: { stage: 'implementation', prompt: 'Add token auth to the API', repository: 'acme/widgets' },
    callbackUrl: 'http://callbacks.facteur.svc.cluster.local/v1/runs/0d9c2a52-6a61-4d0e-8f3e-1b1e3f0b9c77/events',
    traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    intentAnchor: 'Goal: token auth. Constraints: no new dependencies.',
    retrievedContext: 'Past reflection: remember to rotate keys.',
    ...overrides,
  };
}
