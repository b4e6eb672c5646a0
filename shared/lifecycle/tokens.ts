// Per-run callback tokens: HMAC-SHA256 of the run id and attempt under the server secret.
// Nothing is stored; the callbacks function recomputes and compares in constant time. A
// token is useless for any other run or attempt.
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Secret } from '../config/index.js';

export function runToken(secret: Secret, runId: string, attempt: number): string {
  return createHmac('sha256', secret.reveal()).update(`facteur-run:${runId}:${attempt}`).digest('base64url');
}

export function runTokenMatches(secret: Secret, runId: string, attempt: number, presented: string | undefined): boolean {
  if (!presented) return false;
  const want = Buffer.from(runToken(secret, runId, attempt));
  const got = Buffer.from(presented);
  return want.length === got.length && timingSafeEqual(want, got);
}
