// Builds the `argoproj.io/v1alpha1` Workflow that runs one attempt of one task
// (CONTRACTS §4). Argo expands `{{…}}` (and evaluates `{{=…}}` expressions) in what it
// runs, and prompts, anchors and issue bodies are written by people and models. So every
// free-text value travels base64-encoded, the templates decode it inside the container,
// and a last check refuses to return an object with `{{` anywhere in it.
//
// No credential is in it: the run's callback token reaches the step through a Secret
// created beside the Workflow (./secret.ts), since anyone who may list Workflows reads
// their parameters.
import { ValidationError, type Issue } from '../errors/index.js';
import { labelValue, workflowName, type Stage } from './names.js';
import { gitBranchProblem, repositoryProblem } from '../validation/refs.js';
import { parseTraceparent } from '../telemetry/traceparent.js';
import { deepFreeze } from '../validation/freeze.js';

export const DEFAULT_NAMESPACE = 'argo-workflows';
export const DEFAULT_SERVICE_ACCOUNT = 'argo-workflows-workflow';
export const DEFAULT_BASE = 'main';
// etcd refuses objects over 1.5 MiB; keep clear of it with room for Argo's status.
const MAX_WORKFLOW_BYTES = 1024 * 1024;

export const LABELS = {
  stage: 'codex.stage',
  issueNumber: 'codex.issue_number',
  idea: 'facteur.dev/idea',
  task: 'facteur.dev/task',
  run: 'facteur.dev/run',
  attempt: 'facteur.dev/attempt',
  managedBy: 'app.kubernetes.io/managed-by',
  /** Only on the objects beside a Workflow (its run-token Secret). */
  component: 'app.kubernetes.io/component',
} as const;

export const ANNOTATIONS = {
  repository: 'codex.repository',
  issueNumber: 'codex.issue_number',
  head: 'codex.head',
  base: 'codex.base',
  ideaId: 'facteur.dev/idea-id',
  taskKey: 'facteur.dev/task-key',
  runId: 'facteur.dev/run-id',
  traceparent: 'facteur.dev/traceparent',
} as const;

/** The part of a Workflow Facteur writes and reads; the API returns more. */
export interface Workflow {
  apiVersion: 'argoproj.io/v1alpha1';
  kind: 'Workflow';
  metadata: {
    name?: string;
    generateName?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec: {
    workflowTemplateRef?: { name: string };
    serviceAccountName?: string;
    arguments?: { parameters?: { name: string; value?: string }[] };
    shutdown?: string;
  };
  status?: { phase?: string; startedAt?: string; finishedAt?: string; message?: string; progress?: string };
}

export interface WorkflowInput {
  readonly ideaId: string;
  readonly taskKey: string;
  readonly stage: Stage;
  readonly attempt: number;
  readonly runId: string;
  /** `owner/name`. */
  readonly repository: string;
  readonly head: string;
  readonly base?: string;
  /** int64 issue number; a decimal string keeps every value exact. */
  readonly issueNumber?: string | number | bigint;
  /** Upstream `rawEvent`: a JSON value, or the bytes of a JSON document sent verbatim. */
  readonly rawEvent: unknown;
  /** Upstream `eventBody` (the task, prompt included): JSON value or JSON bytes. */
  readonly eventBody: unknown;
  /** Where `facteur-step` posts this run's events (CONTRACTS §7). */
  readonly callbackUrl: string;
  /** W3C trace context of the run (its stage span; shared/telemetry): the steps' TRACEPARENT. */
  readonly traceparent?: string;
  readonly intentAnchor?: string;
  readonly retrievedContext?: string;
  readonly namespace?: string;
  readonly serviceAccountName?: string;
  /** Overrides the template's `image` parameter. */
  readonly image?: string;
}

const RUN_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const ISSUE_NUMBER = /^\d{1,20}$/;
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\/:@-]{0,254}$/;

/** The Workflow for one run attempt, deeply frozen. Throws ValidationError listing every problem. */
export function buildWorkflow(input: WorkflowInput): Workflow {
  const issues: Issue[] = [];
  const check = (ok: boolean, path: string, message: string) => {
    if (!ok) issues.push({ path, message });
  };
  const base = input.base ?? DEFAULT_BASE;
  const issueNumber = input.issueNumber === undefined ? undefined : String(input.issueNumber);
  const callbackUrl = normalizeUrl(input.callbackUrl);
  // the same rules intake applies at the door (shared/validation/refs), so what it accepted builds
  const refProblem = (v: string | undefined) => (v === undefined ? 'is required' : gitBranchProblem(v));
  check(repositoryProblem(input.repository ?? '') === undefined, 'repository', 'must be owner/name');
  check(refProblem(input.head) === undefined, 'head', `must be a git branch name: ${refProblem(input.head) ?? ''}`);
  check(refProblem(base) === undefined, 'base', `must be a git branch name: ${refProblem(base) ?? ''}`);
  check(RUN_ID.test(input.runId ?? ''), 'runId', 'must be 1–128 letters, digits, . _ : -');
  check(callbackUrl !== undefined, 'callbackUrl', 'must be an http(s) URL without braces');
  check(input.traceparent === undefined || parseTraceparent(input.traceparent) !== undefined, 'traceparent', 'must be a W3C traceparent (version 00, non-zero ids)');
  check(issueNumber === undefined || ISSUE_NUMBER.test(issueNumber), 'issueNumber', 'must be a whole number');
  check(input.image === undefined || IMAGE.test(input.image), 'image', 'must be an image reference');
  let name = '';
  try {
    name = workflowName(input);
  } catch (err) {
    if (!(err instanceof ValidationError)) throw err;
    issues.push(...err.issues);
  }
  if (issues.length > 0) throw new ValidationError('cannot build the workflow', issues);

  const parameters = [
    { name: 'rawEvent', value: json64(input.rawEvent) },
    { name: 'eventBody', value: json64(input.eventBody) },
    { name: 'head', value: input.head },
    { name: 'base', value: base },
    { name: 'callbackUrl', value: callbackUrl as string },
    { name: 'traceparent', value: input.traceparent ?? '' },
    { name: 'intentAnchor', value: text64(input.intentAnchor ?? '') },
    { name: 'retrievedContext', value: text64(input.retrievedContext ?? '') },
    { name: 'runId', value: input.runId },
    { name: 'attempt', value: String(input.attempt) },
    ...(input.image !== undefined ? [{ name: 'image', value: input.image }] : []),
  ];
  const labels: Record<string, string> = {
    [LABELS.stage]: input.stage,
    ...(issueNumber !== undefined ? { [LABELS.issueNumber]: issueNumber } : {}),
    [LABELS.idea]: labelValue(input.ideaId),
    [LABELS.task]: labelValue(input.taskKey),
    [LABELS.run]: labelValue(input.runId),
    [LABELS.attempt]: String(input.attempt),
    [LABELS.managedBy]: 'facteur',
  };
  const annotations: Record<string, string> = {
    [ANNOTATIONS.repository]: input.repository,
    ...(issueNumber !== undefined ? { [ANNOTATIONS.issueNumber]: issueNumber } : {}),
    [ANNOTATIONS.head]: input.head,
    [ANNOTATIONS.base]: base,
    [ANNOTATIONS.ideaId]: annotationText(input.ideaId),
    [ANNOTATIONS.taskKey]: annotationText(input.taskKey),
    [ANNOTATIONS.runId]: input.runId,
    ...(input.traceparent !== undefined ? { [ANNOTATIONS.traceparent]: input.traceparent } : {}),
  };
  const workflow: Workflow = {
    apiVersion: 'argoproj.io/v1alpha1',
    kind: 'Workflow',
    metadata: { name, namespace: input.namespace ?? DEFAULT_NAMESPACE, labels, annotations },
    spec: {
      workflowTemplateRef: { name: templateName(input.stage) },
      serviceAccountName: input.serviceAccountName ?? DEFAULT_SERVICE_ACCOUNT,
      arguments: { parameters },
    },
  };
  const serialized = JSON.stringify(workflow);
  // Defence in depth: every rule above should make this impossible.
  if (serialized.includes('{{')) throw new Error('bug: a workflow value contains "{{" in clear');
  if (Buffer.byteLength(serialized) > MAX_WORKFLOW_BYTES) {
    throw new ValidationError('the workflow is too large', [
      { path: 'eventBody', message: `workflow would be ${Buffer.byteLength(serialized)} bytes, limit ${MAX_WORKFLOW_BYTES}` },
    ], 'too_large');
  }
  return deepFreeze(workflow);
}

export function templateName(stage: Stage): string {
  return `github-codex-${stage}`;
}

/** What a workflow built here says about its run (for completions and reconciliation). */
export interface WorkflowRef {
  readonly ideaId: string;
  readonly taskKey: string;
  readonly runId: string;
  readonly attempt: number;
  readonly stage: string;
}

/** Reads back the annotations and labels `buildWorkflow` wrote; undefined if not ours. */
export function workflowRef(workflow: Pick<Workflow, 'metadata'>): WorkflowRef | undefined {
  const a = workflow.metadata.annotations ?? {};
  const l = workflow.metadata.labels ?? {};
  const ideaId = a[ANNOTATIONS.ideaId];
  const taskKey = a[ANNOTATIONS.taskKey];
  const runId = a[ANNOTATIONS.runId];
  const attempt = Number(l[LABELS.attempt]);
  if (ideaId === undefined || taskKey === undefined || runId === undefined || !Number.isSafeInteger(attempt)) return undefined;
  return { ideaId: fromAnnotation(ideaId), taskKey: fromAnnotation(taskKey), runId, attempt, stage: l[LABELS.stage] ?? '' };
}

function json64(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  return text64(JSON.stringify(value ?? null));
}

function text64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

// Ids and task keys are shown in clear for people running kubectl, unless they hold
// braces; then they are stored as `base64:<…>` (workflowRef decodes them).
const B64_PREFIX = 'base64:';
function annotationText(text: string): string {
  return /[{}]/.test(text) || text.startsWith(B64_PREFIX) ? B64_PREFIX + text64(text) : text;
}
function fromAnnotation(text: string): string {
  return text.startsWith(B64_PREFIX) ? Buffer.from(text.slice(B64_PREFIX.length), 'base64').toString('utf8') : text;
}

function normalizeUrl(raw: string): string | undefined {
  if (typeof raw !== 'string' || !URL.canParse(raw)) return undefined;
  const url = new URL(raw);
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  return /[{}]/.test(url.href) ? undefined : url.href;
}

