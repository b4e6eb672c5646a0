// The project intention memory: from an Idea Spec, a normalized intent (`intent_v1`), a
// digest of the raw input, and an anchor (≤ 2 KB of text) injected into every prompt of
// the idea so no stage drifts from what was asked. Everything here is deterministic:
// the same spec gives byte-identical output.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { gitBranch, parseJsonWith, plainLabelProblem, repository } from '../validation/index.js';

const line = (max: number) => z.string().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`);
const list = (max: number, each = 1000) => z.array(line(each)).max(max, `must have at most ${max} items`).default([]);
const label = line(100).superRefine((v, ctx) => {
  const problem = plainLabelProblem(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const ideaSpecSchema = z.object({
  id: z.string().trim().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces').optional(),
  title: line(200),
  goal: line(10_000),
  constraints: list(50),
  successMetrics: z.array(line(1000)).min(1, 'at least one success metric is required').max(50),
  nonGoals: list(50),
  acceptanceCriteria: list(50),
  repository,
  // becomes the branch every run starts from, and an Argo parameter
  base: gitBranch.default('main'),
  priority: z.enum(['low', 'normal', 'high', 'urgent']).default('normal'),
  labels: z.array(label).max(30, 'must have at most 30 items').default([]),
  autonomyLevel: z.enum(['L0', 'L1', 'L2', 'L3']).default('L1'),
  initiator: z.object({ kind: z.enum(['github', 'discord', 'api']), login: line(200) }).optional(),
  source: z.object({ type: z.enum(['github_issue', 'discord', 'api']), ref: line(512) }).optional(),
  budget: z
    .object({
      maxCostUsd: z.number().positive().max(1_000_000).optional(),
      maxTokens: z.number().int().positive().optional(),
    })
    .default({}),
});

export type IdeaSpec = z.output<typeof ideaSpecSchema>;

export interface IntentV1 {
  readonly version: 'intent_v1';
  readonly title: string;
  readonly goal: string;
  readonly constraints: readonly string[];
  readonly successMetrics: readonly string[];
  readonly nonGoals: readonly string[];
  readonly acceptanceCriteria: readonly string[];
  readonly repository: string;
  readonly base: string;
  readonly priority: IdeaSpec['priority'];
  readonly labels: readonly string[];
  readonly autonomyLevel: IdeaSpec['autonomyLevel'];
  readonly budget: { readonly maxCostUsd?: number; readonly maxTokens?: number };
  /**
   * Added after intake, outside the digest (which says what was asked): planning's toolchain
   * artifact (shared/callbacks/index.ts) and the accepted plan's `openQuestions`
   * (shared/lifecycle/advance.ts). The goal-drift rule reads the rest (shared/intent/drift.ts).
   */
  readonly toolchainHypotheses?: readonly { toolchain: string; root: string; confidence: number; evidence: readonly string[]; source: string }[];
  readonly openQuestions?: readonly string[];
}

export interface DerivedIntent {
  readonly intent: IntentV1;
  /** sha256 of the canonical intent JSON: equal for equal meaning. */
  readonly intentDigest: string;
  /** sha256 of the raw bytes as received. */
  readonly rawDigest: string;
  readonly anchor: string;
}

export const ANCHOR_MAX_BYTES = 2048;

export function parseIdeaSpec(data: Buffer): IdeaSpec {
  return parseJsonWith(data, ideaSpecSchema, 'Idea Spec');
}

const collapse = (s: string) => s.replace(/\s+/g, ' ').trim();
const uniq = (xs: readonly string[]) => [...new Set(xs.map(collapse))];

export function deriveIntent(spec: IdeaSpec, raw: Uint8Array): DerivedIntent {
  const intent: IntentV1 = {
    version: 'intent_v1',
    title: collapse(spec.title),
    goal: spec.goal.trim(),
    constraints: uniq(spec.constraints),
    successMetrics: uniq(spec.successMetrics),
    nonGoals: uniq(spec.nonGoals),
    acceptanceCriteria: uniq(spec.acceptanceCriteria),
    repository: spec.repository.toLowerCase(),
    base: spec.base,
    priority: spec.priority,
    labels: [...new Set(spec.labels.map((l) => l.toLowerCase()))].sort(),
    autonomyLevel: spec.autonomyLevel,
    budget: {
      ...(spec.budget.maxCostUsd !== undefined ? { maxCostUsd: spec.budget.maxCostUsd } : {}),
      ...(spec.budget.maxTokens !== undefined ? { maxTokens: spec.budget.maxTokens } : {}),
    },
  };
  const intentDigest = sha256(canonicalJson(intent));
  return Object.freeze({
    intent: Object.freeze(intent),
    intentDigest,
    rawDigest: sha256(raw),
    anchor: buildAnchor(intent, intentDigest),
  });
}

/** JSON with object keys sorted at every depth: one text per value. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonicalJson).join(',') + ']';
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return '{' + entries.map(([k, v]) => JSON.stringify(k) + ':' + canonicalJson(v)).join(',') + '}';
  }
  return JSON.stringify(value);
}

function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The anchor: a fixed layout, the goal and metrics first (what matters most when space
 * runs out); each section is cut on a character boundary with "…" to stay ≤ 2048 bytes.
 */
export function buildAnchor(intent: IntentV1, digest: string): string {
  const head = `INTENT ${digest.slice(0, 12)} · ${intent.repository}@${intent.base} · ${intent.priority} · ${intent.autonomyLevel}`;
  const sections: [string, string][] = [
    ['Title', intent.title],
    ['Goal', intent.goal],
    ['Success metrics', bullets(intent.successMetrics)],
    ['Acceptance criteria', bullets(intent.acceptanceCriteria)],
    ['Constraints', bullets(intent.constraints)],
    ['Non-goals', bullets(intent.nonGoals)],
  ];
  let out = head;
  for (const [name, body] of sections) {
    if (!body) continue;
    const label = `\n${name}: `;
    const room = ANCHOR_MAX_BYTES - bytes(out) - bytes(label);
    if (room < 16) break;
    out += label + cut(body, room);
  }
  return out;
}

function bullets(xs: readonly string[]): string {
  return xs.map((x) => `\n- ${x}`).join('');
}

function bytes(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}

function cut(s: string, maxBytes: number): string {
  if (bytes(s) <= maxBytes) return s;
  const budget = maxBytes - bytes('…');
  let out = '';
  let used = 0;
  for (const ch of s) {
    const n = bytes(ch);
    if (used + n > budget) break;
    out += ch;
    used += n;
  }
  return out + '…';
}
