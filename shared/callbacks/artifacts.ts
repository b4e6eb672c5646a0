// The artifacts a run may report, and the shapes the control plane holds them to
// (CONTRACTS §7, "Artifacts"). Policy rules, the dashboard and the knowledge base read
// these fields, so a step that sends something else gets a 400 naming every problem rather
// than a record nobody can use. Extra fields are kept (an agent may say more); the listed
// ones must be there, with their types. `plan` is checked when the run completes (JSON or
// Markdown, shared/plans), `review` when it settles, `reflection` is free-form.
import { z } from 'zod';

import { ARTIFACT_KINDS, type ArtifactKind } from './artifact-kinds.js';

export { ARTIFACT_KINDS, type ArtifactKind };

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const text = (max: number) => z.string().max(max);
const path = text(4096).min(1);
const sha = z.string().regex(/^[0-9a-f]{7,64}$/, 'must be a hexadecimal commit id');

/** `git diff --numstat` of the run's branch against its base, binary files counted. */
export const diffStatsSchema = z.looseObject({
  base: sha,
  head: sha,
  files: z
    .array(
      z.looseObject({
        path,
        oldPath: path.optional(),
        added: count,
        removed: count,
        status: z.enum(['added', 'modified', 'deleted', 'renamed', 'copied', 'type_changed']),
        binary: z.boolean().optional(),
      }),
    )
    .max(100_000),
  added: count,
  removed: count,
});

/** What the quality gates ran and what came of it; counts are null when the output did not say. */
export const testReportSchema = z.looseObject({
  toolchain: text(200),
  passed: z.boolean().optional(),
  checks: z
    .array(
      z.looseObject({
        name: text(100).min(1),
        command: text(4096),
        cwd: text(4096).optional(),
        exitCode: z.number().int().nullable(),
        durationMs: z.number().min(0),
        timedOut: z.boolean().optional(),
        passed: count.nullable(),
        failed: count.nullable(),
        skipped: count.nullable(),
        summary: text(4000),
        outputTail: text(65_536),
      }),
    )
    .max(500),
});

/** Which toolchains `facteur-agent` found (or the repository's `.facteur/toolchain.yml` named), per package root, with the commands its gates run. */
export const toolchainSchema = z.looseObject({
  source: z.enum(['detected', 'file']),
  adapters: z
    .array(
      z.looseObject({
        toolchain: text(100).min(1),
        root: text(4096).min(1),
        confidence: z.number().min(0).max(1),
        evidence: z.array(text(4096)).max(100),
        commands: z.array(z.looseObject({ name: text(100).min(1), argv: z.array(text(4096)).min(1).max(200), cwd: text(4096) })).max(100),
      }),
    )
    .max(200),
});

/** The prompt the agent was given: its composition's version and the digest of its bytes. */
export const promptSchema = z.looseObject({
  version: text(200).min(1),
  digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex>'),
  bytes: count,
  truncated: z.array(text(200)).max(50).optional(),
});

/**
 * The repository's `.facteur/policy.yml` as facteur-agent read it at planning: its digest,
 * and the validated document or why it is not one (shared/agent/repo-policy.ts).
 */
export const policySchema = z
  .looseObject({
    path: path,
    digest: z.string().regex(/^sha256:[0-9a-f]{64}$/, 'must be sha256:<64 hex>'),
    document: z.record(z.string(), z.unknown()).optional(),
    error: z.looseObject({ message: text(4000), issues: z.array(z.looseObject({ path: text(1000), message: text(4000) })).max(500) }).optional(),
  })
  .refine((p) => (p.document === undefined) !== (p.error === undefined), { message: 'must hold exactly one of document and error', path: ['document'] });

export const integrationSchema = z.looseObject({
  merged: z.boolean(),
  sha: sha.optional(),
  method: z.enum(['merge', 'squash', 'rebase']).optional(),
  pr: z.union([count, text(200)]).nullable().optional(),
  into: text(255).optional(),
  message: text(4000).optional(),
});

export const deploySchema = z.looseObject({
  deployed: z.boolean(),
  version: text(255).optional(),
  sha: sha.optional(),
  message: text(4000).optional(),
});

export const ARTIFACT_SCHEMAS: Partial<Record<ArtifactKind, z.ZodType>> = {
  'diff-stats': diffStatsSchema,
  'test-report': testReportSchema,
  toolchain: toolchainSchema,
  prompt: promptSchema,
  policy: policySchema,
  integration: integrationSchema,
  deploy: deploySchema,
};

export type DiffStats = z.output<typeof diffStatsSchema>;
export type TestReport = z.output<typeof testReportSchema>;
export type ToolchainArtifact = z.output<typeof toolchainSchema>;
export type PromptArtifact = z.output<typeof promptSchema>;
export type PolicyArtifact = z.output<typeof policySchema>;
