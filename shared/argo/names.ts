// Deterministic Kubernetes names and label values for Facteur's Argo Workflows.
//
// The workflow name is the idempotency key of a submission (ARCHITECTURE §3): the run is
// committed as `submitting` with this name, the create happens after commit, and a
// `409 AlreadyExists` on a re-submit means "already done". So the name must be a pure
// function of (idea, task, stage, attempt), and two different runs must never share it.
import { createHash } from 'node:crypto';
import { ValidationError, type Issue } from '../errors/index.js';

export const STAGES = ['planning', 'implementation', 'review', 'integration', 'deploy'] as const;
export type Stage = (typeof STAGES)[number];

export function isStage(value: unknown): value is Stage {
  return typeof value === 'string' && (STAGES as readonly string[]).includes(value);
}

/** Names double as label values (`facteur.dev/run`…), so they keep to the 63-char limit. */
export const MAX_NAME_LENGTH = 63;

// 12 hex chars = 48 bits. With 8 (32 bits) two ideas sharing a task key and stage collide
// with ~1% probability once 10k ideas exist, and a collision reads as AlreadyExists.
const HASH_LENGTH = 12;

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

export interface WorkflowNameInput {
  readonly ideaId: string;
  readonly taskKey: string;
  readonly stage: Stage;
  /** 1 for the first attempt; each retry of a run gets the next number and a new name. */
  readonly attempt: number;
}

/**
 * `facteur-<stage>-<slug>-<hash12>-a<attempt>`: the slug (from the task key) is for
 * people, the hash (of idea id + task key) is what keeps two ideas with the same task key
 * apart. Always a valid DNS-1123 subdomain and label value, ≤ 63 chars.
 */
export function workflowName(input: WorkflowNameInput): string {
  const { ideaId, taskKey, stage, attempt } = input;
  const issues: Issue[] = [];
  if (!isStage(stage)) issues.push({ path: 'stage', message: `unknown stage ${JSON.stringify(stage)}` });
  if (!Number.isSafeInteger(attempt) || attempt < 1) {
    issues.push({ path: 'attempt', message: `must be a whole number ≥ 1, got ${String(attempt)}` });
  }
  if (typeof ideaId !== 'string' || ideaId === '') issues.push({ path: 'ideaId', message: 'is required' });
  if (typeof taskKey !== 'string' || taskKey === '') issues.push({ path: 'taskKey', message: 'is required' });
  if (issues.length > 0) throw new ValidationError('cannot name the workflow', issues);

  // JSON of the pair, not a concatenation: ("a-b","c") and ("a","b-c") must differ.
  const hash = sha256Hex(JSON.stringify([ideaId, taskKey])).slice(0, HASH_LENGTH);
  const head = `facteur-${stage}-`;
  const tail = `${hash}-a${attempt}`;
  const room = MAX_NAME_LENGTH - head.length - tail.length - 1; // 1 for the slug's dash
  const slug = room > 0 ? trimDashes(slugify(taskKey).slice(0, room)) : '';
  return slug === '' ? head + tail : `${head}${slug}-${tail}`;
}

export function isDnsSubdomain(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

export function isLabelValue(value: string): boolean {
  return value.length <= MAX_NAME_LENGTH && LABEL_VALUE.test(value);
}

/**
 * A label value for any string. Valid values are kept as they are; anything else is
 * cleaned up and suffixed with a hash of the original, so two different inputs still get
 * two different values (an equality selector on the label stays exact).
 */
export function labelValue(value: string): string {
  if (isLabelValue(value)) return value;
  const suffix = sha256Hex(value).slice(0, 8);
  const cleaned = value
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .slice(0, MAX_NAME_LENGTH - suffix.length - 1)
    .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '');
  return cleaned === '' ? suffix : `${cleaned}-${suffix}`;
}

/** Lower-case ASCII letters, digits and single dashes, nothing at either end. */
function slugify(text: string): string {
  return trimDashes(
    text
      .normalize('NFKD')
      .replace(/[\u0300-\u036f]/g, '')
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-'),
  );
}

function trimDashes(text: string): string {
  return text.replace(/^-+|-+$/g, '');
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}
