// Per-run callback tokens: HMAC-SHA256 of the run id and attempt under the server secret.
// Nothing is stored; the callbacks function recomputes and compares in constant time. A
// token is useless for any other run or attempt. It reaches the step through a Kubernetes
// Secret beside the Workflow (shared/argo/secret.ts), never through the Workflow itself.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../config/index.js';

export function runToken(secret: Secret, runId: string, attempt: number): string {
  return createHmac('sha256', secret.reveal()).update(`facteur-run:${runId}:${attempt}`).digest('base64url');
}

/** The HMAC is computed whatever is presented, so a missing token costs what a wrong one does. */
export function runTokenMatches(secret: Secret, runId: string, attempt: number, presented: string | undefined): boolean {
  const want = Buffer.from(runToken(secret, runId, attempt));
  const got = Buffer.from(presented ?? '');
  return got.length > 0 && want.length === got.length && timingSafeEqual(want, got);
}
