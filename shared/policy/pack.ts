// A policy pack: one reviewed YAML document saying what an agent may do without a human.
// Validated strictly (unknown keys and unknown rules refused), every problem listed with its
// line and column, size-capped; globs must compile and time zones must exist.
//
//   schemaVersion: 1
//   key: payments            # [a-z0-9-], the pack's name
//   version: 3               # a stored version is never rewritten: a change is a new one
//   description: …
//   strict: false            # true: warn counts as enforce
//   overridable: [rules.churn.maxLinesPerTask]   # what a repo-local file may loosen
//   rules: { autonomy, requiredChecks, highRisk, churn, pathScope, freeze, changeBudget, budgets, intentDrift }
//   approvals: { required, eligible: { logins, teams, roles }, expiresAfterH, onExpiry }
//
// Each rule has a mode (off | evaluate: record only | warn: record and show | enforce: stop)
// and a severity. A rule the pack leaves out is off. The same shapes, every field optional,
// are a **partial**: a repository's overrides and a repo-local `.facteur/policy.yml`.
import picomatch from 'picomatch';
import { z } from 'zod';
import { STAGES } from '../lifecycle/states.js';
import { parseYamlWith, type YamlProblem } from '../validation/yaml.js';
import { ROLES } from './roles.js';

export { ROLES, type Role } from './roles.js';

export const PACK_CAP_BYTES = 256 * 1024;
export const MODES = ['off', 'evaluate', 'warn', 'enforce'] as const;
export type Mode = (typeof MODES)[number];
export const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];
export const LEVELS = ['L0', 'L1', 'L2', 'L3'] as const;
export type Level = (typeof LEVELS)[number];
export const RULES = ['autonomy', 'requiredChecks', 'highRisk', 'churn', 'pathScope', 'freeze', 'changeBudget', 'budgets', 'intentDrift'] as const;
export type RuleName = (typeof RULES)[number];
/** The default similarity below which a task or a change is said to drift from the goal. */
export const DRIFT_MIN_SIMILARITY = 0.05;
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

/** Why `glob` is not a usable repository path glob, or undefined. */
export function globProblem(glob: string): string | undefined {
  if (glob === '') return 'must not be empty';
  if (glob.startsWith('/')) return 'must be relative to the repository root';
  if (glob.split('/').includes('..')) return 'must not contain ".."';
  try {
    picomatch.makeRe(glob, { strictBrackets: true, dot: true });
  } catch (err) {
    return `does not compile: ${(err as Error).message}`;
  }
  return undefined;
}

export function timeZoneProblem(tz: string): string | undefined {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return undefined;
  } catch {
    return `unknown time zone "${tz}"`;
  }
}

const text = (max: number) => z.string().max(max).refine((s) => !/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/.test(s), 'must not contain control characters');
const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$/, 'must be a short name ([A-Za-z0-9._:/-])');
const glob = z.string().max(500).superRefine((g, ctx) => {
  const problem = globProblem(g);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
const clock = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'must be HH:MM (24 h)');
const instant = z.iso.datetime({ offset: true, message: 'must be an ISO 8601 date-time with a zone, e.g. 2026-12-24T00:00:00Z' });
const money = z.number().nonnegative().max(1e9);
const count = z.number().int().nonnegative().max(1e12);
const limits = z.strictObject({ maxCostUsd: money.optional(), maxTokens: count.optional() });

const absoluteWindow = z.strictObject({ start: instant, end: instant, reason: text(500).optional() })
  .refine((w) => Date.parse(w.start) < Date.parse(w.end), { message: 'must end after it starts', path: ['end'] });
const weeklyWindow = z.strictObject({
  weekly: z.strictObject({ days: z.array(z.enum(WEEKDAYS)).min(1).max(7), from: clock, to: clock }),
  timeZone: z.string().max(100).superRefine((tz, ctx) => {
    const problem = timeZoneProblem(tz);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }),
  reason: text(500).optional(),
});
export const freezeWindowSchema = z.union([absoluteWindow, weeklyWindow], { error: 'must be {start, end} or {weekly: {days, from, to}, timeZone}' });
export type FreezeWindow = z.infer<typeof freezeWindowSchema>;

/**
 * The rules' fields. `full`: what a pack holds once read (defaults filled in);
 * otherwise every field is optional and nothing is filled in (overrides, repo-local).
 */
function ruleShapes(full: boolean) {
  const d = <T extends z.ZodType>(schema: T, fallback: z.input<T>) => (full ? schema.prefault(fallback as never) : schema.optional());
  const o = <T extends z.ZodType>(schema: T) => schema.optional();
  const base = { mode: d(z.enum(MODES), 'warn'), severity: d(z.enum(SEVERITIES), 'medium') };
  return {
    autonomy: z.strictObject({
      ...base,
      maxLevel: d(z.enum(LEVELS), 'L3'),
      preconditions: d(z.strictObject({ acceptanceCriteria: d(z.boolean(), true), successMetrics: d(z.boolean(), true), monitoring: d(z.boolean(), true) }), {}),
    }),
    requiredChecks: z.strictObject({ ...base, paths: d(z.array(z.strictObject({ glob, checks: z.array(name).min(1).max(50) })).max(200), []) }),
    highRisk: z.strictObject({
      ...base,
      labels: d(z.array(z.string().min(1).max(100).transform((l) => l.toLowerCase())).max(200), []),
      sensitivePaths: d(z.array(glob).max(200), []),
      planRisk: d(z.boolean(), true),
      checkpoints: d(z.array(z.enum(['pre-merge', 'pre-deploy'])).min(1), ['pre-merge', 'pre-deploy']),
    }),
    churn: z.strictObject({ ...base, maxLinesPerTask: o(count), maxLinesPerIdea: o(count) }),
    pathScope: z.strictObject({ ...base, allow: d(z.array(glob).max(200), []) }),
    freeze: z.strictObject({ ...base, stages: d(z.array(z.enum(['integration', 'deploy'])).min(1), ['deploy']), windows: d(z.array(freezeWindowSchema).max(200), []) }),
    changeBudget: z.strictObject({ ...base, deploysPerDay: o(count), deploysPerWeek: o(count), afterRegression: d(z.enum(['approval', 'none']), 'approval') }),
    budgets: z.strictObject({
      ...base,
      perIdea: d(limits, {}),
      perRepositoryPerDay: d(limits, {}),
      estimates: d(z.partialRecord(z.enum(STAGES), z.strictObject({ costUsd: money.optional(), tokens: count.optional() })), {}),
      warnAt: d(z.number().gt(0).max(1), 0.8),
    }),
    // goal drift (shared/intent/drift.ts); on as a warning when a pack leaves it out (rules/intent-drift.ts)
    intentDrift: z.strictObject({ ...base, minSimilarity: d(z.number().min(0).max(1), DRIFT_MIN_SIMILARITY) }),
  };
}

function approvalsShape(full: boolean, repoLocal: boolean) {
  const d = <T extends z.ZodType>(schema: T, fallback: z.input<T>) => (full ? schema.prefault(fallback as never) : schema.optional());
  return z.strictObject({
    required: d(z.number().int().min(1).max(20), 1),
    // who may vote is never the repository's own say
    ...(repoLocal ? {} : {
      eligible: d(z.strictObject({
        logins: d(z.array(name).max(500), []),
        teams: d(z.array(name).max(200), []),
        roles: d(z.array(z.enum(ROLES)).max(4), ['approver', 'admin']),
      }), {}),
    }),
    expiresAfterH: (full ? z.number().positive().max(24 * 365) : z.number().positive().max(24 * 365)).optional(),
    onExpiry: d(z.enum(['block', 'reask']), 'block'),
  });
}

const full = ruleShapes(true);
const partial = ruleShapes(false);
const partialRules = z.strictObject(Object.fromEntries(RULES.map((r) => [r, partial[r].optional()])) as { [K in RuleName]: z.ZodOptional<(typeof partial)[K]> });

export const packSchema = z.strictObject({
  schemaVersion: z.literal(1, 'must be 1'),
  key: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'must be lowercase letters, digits and dashes (at most 63)'),
  version: z.number().int('must be a whole number').min(1).max(1_000_000),
  description: text(2000).default(''),
  strict: z.boolean().default(false),
  overridable: z.array(z.string().regex(/^(strict|rules(\.[A-Za-z]+){1,3}|approvals(\.[A-Za-z]+){1,2})$/, 'must be a path such as rules.churn.maxLinesPerTask')).max(100).default([]),
  rules: z.strictObject(Object.fromEntries(RULES.map((r) => [r, full[r].optional()])) as { [K in RuleName]: z.ZodOptional<(typeof full)[K]> }).prefault({}),
  approvals: approvalsShape(true, false).prefault({}),
});
export type PolicyPack = z.output<typeof packSchema>;
export type Rules = PolicyPack['rules'];
export type Approvals = PolicyPack['approvals'];

/** A repository's overrides (set by an admin through the API): anything in a pack, optional. */
export const overridesSchema = z.strictObject({ strict: z.boolean().optional(), rules: partialRules.optional(), approvals: approvalsShape(false, false).optional() });
/** The repository's own `.facteur/policy.yml`: the same, but who may approve is out of its reach. */
export const repoLocalSchema = z.strictObject({ schemaVersion: z.literal(1, 'must be 1'), strict: z.boolean().optional(), rules: partialRules.optional(), approvals: approvalsShape(false, true).optional() });
/** Every field optional, at every depth (arrays are whole values). */
export type DeepPartial<T> = T extends readonly unknown[] ? T : T extends object ? { [K in keyof T]?: DeepPartial<T[K]> } : T;
export type PolicyOverrides = DeepPartial<Pick<PolicyPack, 'strict' | 'rules' | 'approvals'>>;
export type RepoLocalPolicy = { schemaVersion: 1 } & DeepPartial<Pick<PolicyPack, 'strict' | 'rules'>> & { approvals?: DeepPartial<Omit<Approvals, 'eligible'>> };
export const REPO_LOCAL_FILE = '.facteur/policy.yml';
export const REPO_LOCAL_CAP_BYTES = 64 * 1024;

/** Overridable paths that name nothing, said with the list's own position. */
function unknownOverridable(value: unknown): YamlProblem[] {
  const list = (value as { overridable?: unknown } | null)?.overridable;
  if (!Array.isArray(list)) return [];
  return list.flatMap((p, i) => (typeof p === 'string' && /^(strict|rules|approvals)/.test(p) && !knownPath(p) ? [{ path: ['overridable', i], message: `names no field of a pack: "${p}"` }] : []));
}

function knownPath(path: string): boolean {
  const [top, rule, field] = path.split('.');
  if (top === 'strict') return path === 'strict';
  if (top === 'approvals') return rule !== undefined && rule in approvalsShape(true, false).shape && field === undefined;
  if (top !== 'rules' || rule === undefined) return false;
  const shape = (full as Record<string, z.ZodObject>)[rule]?.shape;
  return shape !== undefined && (field === undefined || field in shape);
}

/** A pack from its YAML; throws ValidationError `invalid_policy_pack` listing every problem. */
export function parsePack(source: string): PolicyPack {
  return parseYamlWith(source, packSchema, { what: 'the policy pack', code: 'invalid_policy_pack', capBytes: PACK_CAP_BYTES, check: unknownOverridable });
}

/** A repo-local file from its YAML; throws ValidationError `invalid_repo_policy`. */
export function parseRepoLocal(source: string): RepoLocalPolicy {
  return <RepoLocalPolicy>parseYamlWith(source, repoLocalSchema, { what: REPO_LOCAL_FILE, code: 'invalid_repo_policy', capBytes: REPO_LOCAL_CAP_BYTES });
}
