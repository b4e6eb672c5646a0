// CodexTask, as the upstream webhook bridge publishes it: protobuf on
// `github.issues.codex.tasks` (package proompteng.froussard.v1) and camelCase JSON on
// `github.codex.tasks`. Both decode to the same frozen CodexTask value.
import { BinaryReader, BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { z } from 'zod';
import { ValidationError, type Issue } from '../errors/index.js';
import { checkJsonValue, gitBranchProblem, parseJsonWith, repositoryProblem } from '../validation/index.js';

export const CODEX_TASK_MESSAGE = 'proompteng.froussard.v1.CodexTask';
export type CodexStage = 'planning' | 'implementation' | 'review';
const STAGE_BY_NUMBER: Record<number, CodexStage> = { 1: 'planning', 2: 'implementation', 3: 'review' };
const NUMBER_BY_STAGE: Record<CodexStage, number> = { planning: 1, implementation: 2, review: 3 };

export interface CodexReviewContext {
  readonly summary?: string;
  readonly reviewThreads: readonly { summary: string; url?: string; author?: string }[];
  readonly failingChecks: readonly { name: string; conclusion?: string; url?: string; details?: string }[];
  readonly additionalNotes: readonly string[];
}

export interface CodexIterationsPolicy {
  readonly mode: string;
  readonly count?: number;
  readonly min?: number;
  readonly max?: number;
  readonly stopOn: readonly string[];
  readonly reason?: string;
}

export interface CodexTask {
  readonly stage: CodexStage;
  readonly prompt: string;
  readonly repository: string;
  readonly base: string;
  readonly head: string;
  /** int64, as a decimal string so every value stays exact. */
  readonly issueNumber: string;
  readonly issueUrl: string;
  readonly issueTitle: string;
  readonly issueBody: string;
  readonly sender: string;
  readonly issuedAt?: string;
  readonly planCommentId?: string;
  readonly planCommentUrl?: string;
  readonly planCommentBody?: string;
  /** GitHub `X-GitHub-Delivery`; for JSON tasks taken from the Kafka header. */
  readonly deliveryId: string;
  readonly reviewContext?: CodexReviewContext;
  readonly metadataVersion?: number;
  readonly iterations?: CodexIterationsPolicy;
  readonly iteration?: number;
  readonly iterationCycle?: number;
  readonly autonomous?: boolean;
}

// ---- protobuf ------------------------------------------------------------------------------

type Draft = { -readonly [K in keyof CodexTask]?: CodexTask[K] };

/** Decodes the wire bytes. Unknown fields (newer producers) are skipped, never an error. */
export function decodeCodexTask(bytes: Uint8Array): CodexTask {
  const issues: Issue[] = [];
  const t: Draft = {};
  let stageNumber = 0;
  try {
    const r = new BinaryReader(bytes);
    while (r.pos < r.len) {
      const [no, wt] = r.tag();
      const want = (expected: WireType, name: string): boolean => {
        if (wt === expected) return true;
        issues.push({ path: name, message: `field ${no} has wire type ${wt}, expected ${expected}` });
        r.skip(wt, no);
        return false;
      };
      switch (no) {
        case 1: if (want(WireType.Varint, 'stage')) stageNumber = r.int32(); break;
        case 2: if (want(WireType.LengthDelimited, 'prompt')) t.prompt = r.string(true); break;
        case 3: if (want(WireType.LengthDelimited, 'repository')) t.repository = r.string(true); break;
        case 4: if (want(WireType.LengthDelimited, 'base')) t.base = r.string(true); break;
        case 5: if (want(WireType.LengthDelimited, 'head')) t.head = r.string(true); break;
        case 6: if (want(WireType.Varint, 'issueNumber')) t.issueNumber = String(r.int64()); break;
        case 7: if (want(WireType.LengthDelimited, 'issueUrl')) t.issueUrl = r.string(true); break;
        case 8: if (want(WireType.LengthDelimited, 'issueTitle')) t.issueTitle = r.string(true); break;
        case 9: if (want(WireType.LengthDelimited, 'issueBody')) t.issueBody = r.string(true); break;
        case 10: if (want(WireType.LengthDelimited, 'sender')) t.sender = r.string(true); break;
        case 11: if (want(WireType.LengthDelimited, 'issuedAt')) t.issuedAt = decodeTimestamp(r.bytes()); break;
        case 12: if (want(WireType.Varint, 'planCommentId')) t.planCommentId = String(r.int64()); break;
        case 13: if (want(WireType.LengthDelimited, 'planCommentUrl')) t.planCommentUrl = r.string(true); break;
        case 14: if (want(WireType.LengthDelimited, 'planCommentBody')) t.planCommentBody = r.string(true); break;
        case 15: if (want(WireType.LengthDelimited, 'deliveryId')) t.deliveryId = r.string(true); break;
        case 16: if (want(WireType.LengthDelimited, 'reviewContext')) t.reviewContext = decodeReviewContext(r.bytes()); break;
        case 17: if (want(WireType.Varint, 'metadataVersion')) t.metadataVersion = r.int32(); break;
        case 18: if (want(WireType.LengthDelimited, 'iterations')) t.iterations = decodeIterations(r.bytes()); break;
        case 19: if (want(WireType.Varint, 'iteration')) t.iteration = r.int32(); break;
        case 20: if (want(WireType.Varint, 'iterationCycle')) t.iterationCycle = r.int32(); break;
        case 21: if (want(WireType.Varint, 'autonomous')) t.autonomous = r.bool(); break;
        default: r.skip(wt, no);
      }
    }
  } catch (err) {
    throw new ValidationError('CodexTask is not valid protobuf', [...issues, { path: 'body', message: (err as Error).message }], 'malformed_protobuf');
  }
  const stage = STAGE_BY_NUMBER[stageNumber];
  if (!stage) issues.push({ path: 'stage', message: stageNumber === 0 ? 'is CODEX_TASK_STAGE_UNSPECIFIED; expected planning, implementation or review' : `unknown stage ${stageNumber}` });
  else t.stage = stage;
  return finish(t, issues);
}

function decodeTimestamp(bytes: Uint8Array): string {
  const r = new BinaryReader(bytes);
  let seconds = 0n;
  let nanos = 0;
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.Varint) seconds = BigInt(r.int64());
    else if (no === 2 && wt === WireType.Varint) nanos = r.int32();
    else r.skip(wt, no);
  }
  const ms = Number(seconds) * 1000 + Math.floor(nanos / 1e6);
  return new Date(ms).toISOString();
}

function decodeReviewContext(bytes: Uint8Array): CodexReviewContext {
  const r = new BinaryReader(bytes);
  let summary: string | undefined;
  const reviewThreads: { summary: string; url?: string; author?: string }[] = [];
  const failingChecks: { name: string; conclusion?: string; url?: string; details?: string }[] = [];
  const additionalNotes: string[] = [];
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (wt !== WireType.LengthDelimited) { r.skip(wt, no); continue; }
    if (no === 1) summary = r.string(true);
    else if (no === 2) reviewThreads.push(strings(r.bytes(), ['summary', 'url', 'author']) as { summary: string });
    else if (no === 3) failingChecks.push(strings(r.bytes(), ['name', 'conclusion', 'url', 'details']) as { name: string });
    else if (no === 4) additionalNotes.push(r.string(true));
    else r.skip(wt, no);
  }
  const first = reviewThreads.map((x) => ({ ...x, summary: x.summary ?? '' }));
  const checks = failingChecks.map((x) => ({ ...x, name: x.name ?? '' }));
  return { ...(summary !== undefined ? { summary } : {}), reviewThreads: first, failingChecks: checks, additionalNotes };
}

function strings(bytes: Uint8Array, names: string[]): Record<string, string> {
  const r = new BinaryReader(bytes);
  const out: Record<string, string> = {};
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    const name = names[no - 1];
    if (name && wt === WireType.LengthDelimited) out[name] = r.string(true);
    else r.skip(wt, no);
  }
  return out;
}

function decodeIterations(bytes: Uint8Array): CodexIterationsPolicy {
  const r = new BinaryReader(bytes);
  const p: { mode: string; count?: number; min?: number; max?: number; stopOn: string[]; reason?: string } = { mode: '', stopOn: [] };
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (no === 1 && wt === WireType.LengthDelimited) p.mode = r.string(true);
    else if (no === 2 && wt === WireType.Varint) p.count = r.int32();
    else if (no === 3 && wt === WireType.Varint) p.min = r.int32();
    else if (no === 4 && wt === WireType.Varint) p.max = r.int32();
    else if (no === 5 && wt === WireType.LengthDelimited) p.stopOn.push(r.string(true));
    else if (no === 6 && wt === WireType.LengthDelimited) p.reason = r.string(true);
    else r.skip(wt, no);
  }
  return p;
}

/** Encodes as the upstream producer does (proto3: default values are not written). */
export function encodeCodexTask(t: Partial<CodexTask> & { stage?: CodexStage }): Uint8Array {
  const w = new BinaryWriter();
  const str = (no: number, v: string | undefined) => {
    if (v) w.tag(no, WireType.LengthDelimited).string(v);
  };
  if (t.stage) w.tag(1, WireType.Varint).int32(NUMBER_BY_STAGE[t.stage]);
  str(2, t.prompt);
  str(3, t.repository);
  str(4, t.base);
  str(5, t.head);
  if (t.issueNumber && t.issueNumber !== '0') w.tag(6, WireType.Varint).int64(t.issueNumber);
  str(7, t.issueUrl);
  str(8, t.issueTitle);
  str(9, t.issueBody);
  str(10, t.sender);
  if (t.issuedAt) {
    const ms = Date.parse(t.issuedAt);
    const ts = new BinaryWriter();
    ts.tag(1, WireType.Varint).int64(Math.floor(ms / 1000));
    if (ms % 1000) ts.tag(2, WireType.Varint).int32((ms % 1000) * 1e6);
    w.tag(11, WireType.LengthDelimited).bytes(ts.finish());
  }
  if (t.planCommentId !== undefined) w.tag(12, WireType.Varint).int64(t.planCommentId);
  if (t.planCommentUrl !== undefined) w.tag(13, WireType.LengthDelimited).string(t.planCommentUrl);
  if (t.planCommentBody !== undefined) w.tag(14, WireType.LengthDelimited).string(t.planCommentBody);
  str(15, t.deliveryId);
  if (t.reviewContext) {
    const rc = new BinaryWriter();
    if (t.reviewContext.summary !== undefined) rc.tag(1, WireType.LengthDelimited).string(t.reviewContext.summary);
    for (const th of t.reviewContext.reviewThreads) {
      const m = new BinaryWriter();
      m.tag(1, WireType.LengthDelimited).string(th.summary);
      if (th.url !== undefined) m.tag(2, WireType.LengthDelimited).string(th.url);
      if (th.author !== undefined) m.tag(3, WireType.LengthDelimited).string(th.author);
      rc.tag(2, WireType.LengthDelimited).bytes(m.finish());
    }
    for (const c of t.reviewContext.failingChecks) {
      const m = new BinaryWriter();
      m.tag(1, WireType.LengthDelimited).string(c.name);
      if (c.conclusion !== undefined) m.tag(2, WireType.LengthDelimited).string(c.conclusion);
      if (c.url !== undefined) m.tag(3, WireType.LengthDelimited).string(c.url);
      if (c.details !== undefined) m.tag(4, WireType.LengthDelimited).string(c.details);
      rc.tag(3, WireType.LengthDelimited).bytes(m.finish());
    }
    for (const n of t.reviewContext.additionalNotes) rc.tag(4, WireType.LengthDelimited).string(n);
    w.tag(16, WireType.LengthDelimited).bytes(rc.finish());
  }
  if (t.metadataVersion) w.tag(17, WireType.Varint).int32(t.metadataVersion);
  if (t.iteration) w.tag(19, WireType.Varint).int32(t.iteration);
  if (t.iterationCycle) w.tag(20, WireType.Varint).int32(t.iterationCycle);
  if (t.autonomous) w.tag(21, WireType.Varint).bool(true);
  return w.finish();
}

// ---- JSON ----------------------------------------------------------------------------------

const stageJson = z
  .string()
  .transform((s, ctx) => {
    const v = s.toLowerCase().replace(/^codex_task_stage_/, '');
    if (v === 'planning' || v === 'implementation' || v === 'review') return v as CodexStage;
    ctx.addIssue({ code: 'custom', message: `unknown stage ${JSON.stringify(s)}; expected planning, implementation or review` });
    return z.NEVER;
  });

/** int64 as JSON: a decimal string (protojson) or a number small enough to be exact. */
const int64Json = z.unknown().transform((v, ctx) => {
  if (typeof v === 'string' && /^-?\d{1,19}$/.test(v)) return v;
  if (typeof v === 'number' && Number.isSafeInteger(v)) return String(v);
  ctx.addIssue({
    code: 'custom',
    message: typeof v === 'number' ? 'is not an exact integer: send int64 values beyond 2^53 as strings' : 'must be an integer (a number or a decimal string)',
  });
  return z.NEVER;
});

const optionalString = z.string().optional();
const reviewContextJson = z.object({
  summary: optionalString,
  reviewThreads: z.array(z.object({ summary: z.string(), url: optionalString, author: optionalString })).default([]),
  failingChecks: z.array(z.object({ name: z.string(), conclusion: optionalString, url: optionalString, details: optionalString })).default([]),
  additionalNotes: z.array(z.string()).default([]),
});

const codexTaskJson = z.object({
  stage: stageJson,
  prompt: z.string().default(''),
  repository: z.string(),
  base: z.string().default(''),
  head: z.string().default(''),
  issueNumber: int64Json,
  issueUrl: z.string().default(''),
  issueTitle: z.string().default(''),
  issueBody: z.string().default(''),
  sender: z.string().default(''),
  issuedAt: z.string().datetime({ offset: true }).optional(),
  planCommentId: int64Json.optional(),
  planCommentUrl: optionalString,
  planCommentBody: optionalString,
  deliveryId: optionalString,
  reviewContext: reviewContextJson.optional(),
  metadataVersion: z.number().int().optional(),
  iteration: z.number().int().optional(),
  iterationCycle: z.number().int().optional(),
  autonomous: z.boolean().optional(),
});

/** Parses the JSON task; `deliveryId` comes from the Kafka header, else the CloudEvent id. */
export function parseCodexTaskJson(data: Buffer, fallbackDeliveryId: string | undefined): CodexTask {
  const parsed = parseJsonWith(data, codexTaskJson, 'CodexTask JSON');
  const t: Draft = {};
  for (const [k, v] of Object.entries(parsed)) if (v !== undefined) (t as Record<string, unknown>)[k] = v;
  t.deliveryId = fallbackDeliveryId ?? parsed.deliveryId;
  return finish(t, []);
}

function finish(t: Draft, issues: Issue[]): CodexTask {
  const repoProblem = t.repository ? repositoryProblem(t.repository) : 'is required as owner/name';
  if (repoProblem) issues.push({ path: 'repository', message: repoProblem });
  // base and head become the run's branches and Argo parameters: checked here, at the door
  for (const field of ['base', 'head'] as const) {
    const problem = t[field] ? gitBranchProblem(t[field]) : undefined;
    if (problem) issues.push({ path: field, message: `${problem} (a git branch name)` });
  }
  // protobuf strings may carry NUL, which PostgreSQL text cannot hold
  issues.push(...checkJsonValue(t).issues);
  if (!t.issueNumber || !/^[1-9]\d*$/.test(t.issueNumber)) issues.push({ path: 'issueNumber', message: 'must be a positive integer' });
  if (!t.deliveryId) issues.push({ path: 'deliveryId', message: 'is required (X-GitHub-Delivery)' });
  if (issues.length) throw new ValidationError('invalid CodexTask', issues);
  return Object.freeze({
    prompt: '', base: '', head: '', issueUrl: '', issueTitle: '', issueBody: '', sender: '',
    ...t,
  }) as CodexTask;
}

