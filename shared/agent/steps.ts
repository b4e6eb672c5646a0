// The steps facteur-agent's stages are made of (./stages.ts puts them together per stage):
// the run's context and its failure type, the repository and its worktree, merging other
// branches in, toolchain detection, the prompt, the coding agent, the quality gates.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ArtifactKind } from '../callbacks/artifact-kinds.js';
import { messageOf } from '../errors/index.js';
import type { AgentEnv } from './env.js';
import { classifyFailure, type FailureCode } from './failures.js';
import { runGates, type TestReport } from './gates.js';
import { git, openWorkspace, type Workspace } from './git/index.js';
import type { RunInputs } from './inputs.js';
import { runCommand, type CommandResult } from './process.js';
import { assemblePrompt, renderReviewContext } from './prompt.js';
import { resolveRepository, type ResolvedRepository } from './repos.js';
import { detectToolchains, type ToolchainPlan } from './toolchain/index.js';
import { parseUsage, type AgentUsage } from './usage.js';

export interface StageContext {
  readonly env: AgentEnv;
  readonly inputs: RunInputs;
  /** Sends an artifact at once (the control plane keeps it even when the stage fails later). */
  readonly artifact: (kind: ArtifactKind, data: unknown) => Promise<void>;
  /** Called while long commands run: the CLI turns it into heartbeats (with the agent's usage so far, when it has said any). */
  readonly tick: (message: string, usage?: AgentUsage) => void;
  /** Aborted when the control plane stops the run (a budget exceeded): the agent's process group is killed. */
  readonly signal?: AbortSignal;
  /** The process's own environment (PATH, HOME…), from which the agent gets a chosen few. */
  readonly processEnv: NodeJS.ProcessEnv;
}

export interface StageResult {
  readonly usage?: AgentUsage;
  readonly message?: string;
}

/** A stage that did not do its work: the run fails with this code (and the signature, to compare failures). */
export class StageFailure extends Error {
  override readonly name = 'StageFailure';
  constructor(
    readonly code: FailureCode | string,
    message: string,
    readonly signature?: string,
  ) {
    super(message);
  }
}


export function repositoryOf(ctx: StageContext): ResolvedRepository {
  return resolveRepository(ctx.inputs.body.repository, { FACTEUR_LOCAL_REPOS: ctx.env.localRepos, FACTEUR_GIT_BASE_URL: ctx.env.gitBaseUrl });
}

export async function workspace(ctx: StageContext, repo: ResolvedRepository, opts: { continueBranch: boolean }): Promise<Workspace> {
  const b = ctx.inputs.body;
  return openWorkspace({
    cacheDir: join(ctx.env.workDir, 'git'),
    remote: repo.remote,
    base: b.base,
    branch: b.branch,
    runId: ctx.env.runId,
    ...(opts.continueBranch ? { fromHead: b.branch } : {}),
    token: ctx.env.githubToken,
  });
}

/** Merges other branches of the run's remote into the worktree (dependencies, or the tasks under review). */
export async function mergeBranches(ws: Workspace, branches: readonly string[], ctx: StageContext): Promise<void> {
  const identity = ['-c', `user.name=${ctx.env.author.name}`, '-c', `user.email=${ctx.env.author.email}`];
  for (const branch of branches) {
    const exists = await git(['rev-parse', '--verify', '--quiet', `refs/remotes/origin/${branch}`], { cwd: ws.dir }).then(() => true, () => false);
    if (!exists) throw new StageFailure('missing_dependency', `branch ${branch} is not on the remote: its task has not pushed its work`);
    try {
      await git([...identity, '-c', 'core.hooksPath=/dev/null', 'merge', '--no-edit', '--no-ff', '-m', `Merge ${branch}`, `origin/${branch}`], { cwd: ws.dir });
    } catch (err) {
      const conflicted = await git(['diff', '--name-only', '--diff-filter=U'], { cwd: ws.dir }).then((r) => r.stdout.split('\n').filter(Boolean), () => []);
      await git(['merge', '--abort'], { cwd: ws.dir }).catch(() => undefined);
      throw new StageFailure('git_conflict', `merging ${branch} conflicts in ${conflicted.join(', ') || 'the worktree'}: ${messageOf(err).slice(0, 500)}`);
    }
  }
}

export async function toolchain(ctx: StageContext, dir: string, changed?: readonly string[]): Promise<ToolchainPlan> {
  const plan = await detectToolchains(dir, changed ? { changedPaths: changed } : {});
  await ctx.artifact('toolchain', {
    source: plan.source,
    adapters: plan.detections.map((d) => ({
      toolchain: d.toolchain,
      root: d.root,
      confidence: d.confidence,
      evidence: d.evidence,
      commands: plan.commands.filter((c) => c.cwd === d.root).map((c) => ({ name: c.name, argv: c.argv, cwd: c.cwd })),
    })),
  });
  return plan;
}

export async function prompt(ctx: StageContext, ws: Workspace): Promise<string> {
  const b = ctx.inputs.body;
  const reviewContext = renderReviewContext(b.reviewContext);
  const assembled = assemblePrompt({
    stage: b.stage,
    ...(ctx.inputs.intentAnchor ? { intentAnchor: ctx.inputs.intentAnchor } : {}),
    task: {
      key: b.taskKey,
      title: b.title,
      description: b.description,
      acceptanceCriteria: b.acceptanceCriteria ?? [],
      paths: b.paths ?? [],
      prompt: b.prompt ?? null,
    },
    ...(ctx.inputs.retrievedContext ? { retrievedContext: ctx.inputs.retrievedContext } : {}),
    ...(reviewContext ? { reviewContext } : {}),
    repository: b.repository,
    branch: ws.branch,
    base: ws.base,
  });
  const file = join(ctx.env.outputDir, 'prompt.md');
  await writeFile(file, assembled.text);
  await ctx.artifact('prompt', { version: assembled.version, digest: assembled.digest, bytes: assembled.bytes, truncated: [...assembled.truncated] });
  return file;
}

/** Runs the coding agent in the worktree; a non-zero exit or a timeout fails the stage. */
export async function agent(ctx: StageContext, ws: Workspace, promptFile: string, extra: Record<string, string> = {}): Promise<AgentUsage | undefined> {
  const argv = ctx.env.agentCommand;
  if (!argv) throw new StageFailure('not_configured', 'FACTEUR_AGENT_COMMAND is not set: no coding agent to run');
  const pass = ['PATH', 'HOME', 'LANG', 'TMPDIR', ...ctx.env.agentEnv];
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(pass.filter((k) => ctx.processEnv[k] !== undefined).map((k) => [k, ctx.processEnv[k]])),
    // the example agent's knobs, when the operator set them (local mode)
    ...Object.fromEntries(Object.entries(ctx.processEnv).filter(([k]) => k.startsWith('EXAMPLE_'))),
    FACTEUR_STAGE: ctx.inputs.body.stage,
    FACTEUR_PROMPT_FILE: promptFile,
    FACTEUR_INPUT_DIR: ctx.env.inputDir,
    FACTEUR_OUTPUT_DIR: ctx.env.outputDir,
    FACTEUR_ATTEMPT: String(ctx.env.attempt),
    ...extra,
  };
  const result = await runCommand(argv, {
    cwd: ws.dir,
    env,
    // also on stdin, for agents that read their prompt there (`codex exec … -`)
    stdin: await readFile(promptFile, 'utf8'),
    timeoutMs: ctx.env.agentTimeoutMs,
    capBytes: ctx.env.outputCapBytes,
    // the agent's usage so far rides on each heartbeat, so a budget can stop it mid-run
    onTick: (outputSoFar) => ctx.tick('agent running', parseUsage(outputSoFar())),
    tickMs: ctx.env.heartbeatMs,
    ...(ctx.signal ? { signal: ctx.signal } : {}),
  });
  await writeFile(join(ctx.env.outputDir, 'agent-output.txt'), result.output).catch(() => undefined);
  if (result.timedOut) throw failureOf({ check: 'agent', ...result }, `the agent did not finish within ${ctx.env.agentTimeoutMs / 1000} s`, 'timeout');
  if (result.exitCode !== 0) throw failureOf({ check: 'agent', ...result }, `the agent exited with ${result.exitCode ?? result.signal}`, 'agent_error');
  return parseUsage(result.output);
}

export function failureOf(r: { check: string } & Pick<CommandResult, 'output' | 'exitCode' | 'timedOut'>, what: string, fallback: FailureCode | string): StageFailure {
  const f = classifyFailure({ check: r.check, output: r.output, exitCode: r.exitCode, timedOut: r.timedOut });
  const code = f.code === 'unknown' ? fallback : f.code;
  const tail = r.output.split('\n').filter((l) => l.trim()).slice(-5).join(' | ').slice(0, 800);
  return new StageFailure(code, `${what}${tail ? `: ${tail}` : ''}`, f.signature);
}

export async function withWorkspace<T>(ws: Workspace, fn: (ws: Workspace) => Promise<T>): Promise<T> {
  try {
    return await fn(ws);
  } finally {
    await ws.close().catch(() => undefined);
  }
}

export const trailersOf = (ctx: StageContext) => ({
  'Facteur-Idea': ctx.inputs.body.ideaId,
  'Facteur-Task': ctx.inputs.body.taskKey,
  'Facteur-Run': ctx.env.runId,
});

export async function gates(ctx: StageContext, ws: Workspace, plan: ToolchainPlan): Promise<TestReport> {
  const run = () => runGates(ws.dir, plan, { defaultTimeoutMs: ctx.env.gateTimeoutMs, capBytes: ctx.env.outputCapBytes, onTick: () => ctx.tick('quality gates running') });
  let report = await run();
  let failed = report.checks.find((c) => c.outcome === 'failed');
  // a missing dependency is worth one more install and run: registries and caches flake
  if (failed?.failure?.code === 'missing_dependency') {
    ctx.tick('a dependency was missing: installing again');
    report = await run();
    failed = report.checks.find((c) => c.outcome === 'failed');
  }
  await ctx.artifact('test-report', report);
  if (!report.passed) {
    const f = failed ?? report.checks[0];
    const code = f?.failure?.code && f.failure.code !== 'unknown' ? f.failure.code : 'test_failure';
    const tail = (f?.outputTail ?? '').split('\n').filter((l) => l.trim()).slice(-5).join(' | ').slice(0, 800);
    throw new StageFailure(code, `quality gate ${f?.name ?? '?'} failed (${f?.command ?? ''}): ${f?.summary ?? ''}${tail ? ` — ${tail}` : ''}`, f?.failure?.signature);
  }
  return report;
}

export async function readJson(path: string, name: string): Promise<unknown> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  if (text === undefined) throw new StageFailure('agent_error', `the agent wrote no ${name}`);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new StageFailure('agent_error', `${name} is not JSON: ${(err as Error).message}`);
  }
}

export async function ensureDirs(env: AgentEnv): Promise<void> {
  await mkdir(env.outputDir, { recursive: true });
  await mkdir(env.workDir, { recursive: true });
}
