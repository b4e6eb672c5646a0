// What each stage of `facteur-agent` does, from the run's inputs to its artifacts. The CLI
// (./cli.ts) reports; these functions do the work and return what to report, or throw a
// StageFailure with the failure's code and normalized signature (./failures.ts).
//
//   planning        worktree of the base → toolchain → .facteur/policy.yml → prompt → agent → plan.json|plan.md, validated
//   implementation  worktree on the task's branch (continuing a pushed one; hard dependencies'
//                   branches merged in) → agent → scope check → quality gates → commit, push,
//                   diff-stats → pull request on GitHub
//   review          worktree with every implementation branch merged → agent in review mode → review.json
//   integration     every implementation branch merged into the base, in dependency order
//                   (GitHub: each pull request, its required checks green; local: a real merge)
//   deploy          FACTEUR_DEPLOY_COMMAND then FACTEUR_DEPLOY_VERIFY_COMMAND on the base's tip;
//                   without a command, a release tag on the base's tip checked by its test gates
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ValidationError, messageOf } from '../errors/index.js';
import { parsePlanArtifact } from '../plans/index.js';
import { scopeViolations } from './failures.js';
import { cachePaths, changedPaths, commitAll, diffStats, git, GitConflictError, mergeLocal, push, type Workspace } from './git/index.js';
import { createGitHub, pullRequestBody, type PullRequestRef } from './github/index.js';
import { runCommand } from './process.js';
import { reportRepoPolicy } from './repo-policy.js';
import {
  agent, failureOf, gates, mergeBranches, prompt, readJson, repositoryOf, StageFailure, toolchain, trailersOf, withWorkspace, workspace,
  type StageContext, type StageResult,
} from './steps.js';
import { detectToolchains } from './toolchain/index.js';

export { ensureDirs, StageFailure, type StageContext, type StageResult } from './steps.js';

export async function runStage(ctx: StageContext): Promise<StageResult> {
  switch (ctx.inputs.body.stage) {
    case 'planning':
      return planning(ctx);
    case 'implementation':
      return implementation(ctx);
    case 'review':
      return review(ctx);
    case 'integration':
      return integration(ctx);
    case 'deploy':
      return deploy(ctx);
  }
}

// --- the stages ------------------------------------------------------------------------------

async function planning(ctx: StageContext): Promise<StageResult> {
  const repo = repositoryOf(ctx);
  return withWorkspace(await workspace(ctx, repo, { continueBranch: false }), async (ws) => {
    await toolchain(ctx, ws.dir);
    // before the agent runs: what the repository holds, not what the agent might write
    await reportRepoPolicy(ctx, ws.dir);
    const usage = await agent(ctx, ws, await prompt(ctx, ws));
    const data = await readPlanOutput(ctx, ws);
    try {
      parsePlanArtifact(data);
    } catch (err) {
      const issues = err instanceof ValidationError ? err.issues.map((i) => `${i.path} ${i.message}`).join('; ') : messageOf(err);
      throw new StageFailure('invalid_plan', `the plan the agent wrote does not validate: ${issues}`.slice(0, 3000));
    }
    await ctx.artifact('plan', data);
    return { ...(usage ? { usage } : {}), message: 'plan written' };
  });
}

/** plan.json (parsed) or plan.md (as text), in the output dir or the worktree's root. */
async function readPlanOutput(ctx: StageContext, ws: Workspace): Promise<unknown> {
  for (const dir of [ctx.env.outputDir, ws.dir]) {
    const json = await readFile(join(dir, 'plan.json'), 'utf8').catch(() => undefined);
    if (json !== undefined) {
      try {
        return JSON.parse(json) as unknown;
      } catch (err) {
        throw new StageFailure('invalid_plan', `plan.json is not JSON: ${(err as Error).message}`);
      }
    }
    const md = await readFile(join(dir, 'plan.md'), 'utf8').catch(() => undefined);
    if (md !== undefined) return md;
  }
  throw new StageFailure('invalid_plan', 'the agent wrote neither plan.json nor plan.md');
}

async function implementation(ctx: StageContext): Promise<StageResult> {
  const b = ctx.inputs.body;
  const repo = repositoryOf(ctx);
  return withWorkspace(await workspace(ctx, repo, { continueBranch: true }), async (ws) => {
    await mergeBranches(ws, (b.dependencies ?? []).map((d) => d.branch), ctx);
    // what this attempt's agent changes is measured from here: the dependencies' work and a
    // previous attempt's pushed commits are not its own
    const start = (await git(['rev-parse', 'HEAD'], { cwd: ws.dir })).stdout.trim();
    const usage = await agent(ctx, ws, await prompt(ctx, ws));
    const changed = await changedPaths(ws.dir, start);
    const outside = scopeViolations(changed, b.paths ?? []);
    if (outside.length > 0) throw new StageFailure('scope_violation', `the agent changed paths outside the task's paths (${(b.paths ?? []).join(', ')}): ${outside.slice(0, 20).join(', ')}`);
    const plan = await toolchain(ctx, ws.dir, changed);
    const report = await gates(ctx, ws, plan);
    const commit = await commitAll(ws.dir, { message: `${b.title || b.taskKey}\n\n${b.description}`.slice(0, 10_000), trailers: trailersOf(ctx), author: ctx.env.author });
    await push(ws, { token: ctx.env.githubToken, force: 'with-lease' });
    // the branch against its base: what its pull request shows
    const stats = await diffStats(ws.dir, ws.baseSha, 'HEAD');
    if (stats.files.length === 0) {
      await ctx.artifact('diff-stats', stats);
      throw new StageFailure('no_changes', 'the branch does not differ from its base: the agent changed nothing');
    }
    let pr: PullRequestRef | undefined;
    if (repo.kind === 'github' && repo.owner && repo.repo && ctx.env.githubToken) {
      const gh = createGitHub({ token: ctx.env.githubToken, ...(ctx.env.githubApiUrl ? { baseUrl: ctx.env.githubApiUrl } : {}) });
      pr = await gh.ensurePullRequest({
        owner: repo.owner,
        repo: repo.repo,
        head: ws.branch,
        base: ws.base,
        title: b.title || b.taskKey,
        body: pullRequestBody({ ideaId: b.ideaId, ideaTitle: b.ideaTitle, taskKey: b.taskKey, taskTitle: b.title, acceptanceCriteria: b.acceptanceCriteria ?? [], runId: ctx.env.runId }),
      });
    }
    // the pull request's author is the change's author: approvals refuse their vote
    await ctx.artifact('diff-stats', pr ? { ...stats, pullRequest: { number: pr.number, url: pr.url }, ...(pr.author ? { author: pr.author } : {}) } : stats);
    const where = pr ? `pull request #${pr.number}` : `branch ${ws.branch}`;
    return { ...(usage ? { usage } : {}), message: `${commit.committed ? 'committed' : 'nothing new to commit'} ${commit.sha.slice(0, 12)}, ${report.checks.length} checks passed, ${where}` };
  });
}

/** The quality gates; the report is sent whatever the outcome (it says why). One install retry for a missing dependency. */
async function review(ctx: StageContext): Promise<StageResult> {
  const b = ctx.inputs.body;
  const repo = repositoryOf(ctx);
  return withWorkspace(await workspace(ctx, repo, { continueBranch: false }), async (ws) => {
    await mergeBranches(ws, (b.implementation ?? []).map((t) => t.branch), ctx);
    const diff = await git(['diff', `${ws.baseSha}..HEAD`], { cwd: ws.dir }).then((r) => r.stdout);
    const diffFile = join(ctx.env.outputDir, 'review.diff');
    await writeFile(diffFile, diff);
    const usage = await agent(ctx, ws, await prompt(ctx, ws), { FACTEUR_REVIEW_DIFF: diffFile });
    const verdict = await readJson(join(ctx.env.outputDir, 'review.json'), 'review.json');
    const v = (verdict as { verdict?: unknown }).verdict;
    if (v !== 'approved' && v !== 'changes_requested') throw new StageFailure('invalid_review', `review.json's verdict must be approved or changes_requested, got ${JSON.stringify(v)}`);
    await ctx.artifact('review', verdict);
    return { ...(usage ? { usage } : {}), message: `review: ${v}` };
  });
}

async function integration(ctx: StageContext): Promise<StageResult> {
  const b = ctx.inputs.body;
  const repo = repositoryOf(ctx);
  const tasks = b.implementation ?? [];
  if (tasks.length === 0) throw new StageFailure('nothing_to_integrate', 'the idea has no implementation task to merge');
  const method = ctx.env.mergeMethod;
  const cache = { cacheDir: join(ctx.env.workDir, 'git'), remote: repo.remote, token: ctx.env.githubToken };
  let sha = '';
  const merged: { key: string; branch: string; sha: string; pr?: number; author?: string }[] = [];
  if (repo.kind === 'github' && repo.owner && repo.repo && ctx.env.githubToken) {
    const gh = createGitHub({ token: ctx.env.githubToken, ...(ctx.env.githubApiUrl ? { baseUrl: ctx.env.githubApiUrl } : {}) });
    for (const t of tasks) {
      ctx.tick(`merging ${t.branch}`);
      const pr = await gh.ensurePullRequest({ owner: repo.owner, repo: repo.repo, head: t.branch, base: b.base, title: t.title || t.key, body: pullRequestBody({ ideaId: b.ideaId, ideaTitle: b.ideaTitle, taskKey: t.key, taskTitle: t.title, acceptanceCriteria: [], runId: ctx.env.runId }) });
      const checks = await gh.requiredChecksGreen({ owner: repo.owner, repo: repo.repo, ref: t.branch });
      if (!checks.green) throw new StageFailure('checks_not_green', `pull request #${pr.number}: checks ${[...checks.failing.map((c) => `${c} failed`), ...checks.pending.map((c) => `${c} pending`)].join(', ')}`);
      const res = await gh.mergePullRequest({ owner: repo.owner, repo: repo.repo, number: pr.number, method });
      sha = res.sha;
      merged.push({ key: t.key, branch: t.branch, sha, pr: pr.number, ...(pr.author ? { author: pr.author } : {}) });
    }
    if (ctx.env.tagReleases) await gh.createTag({ owner: repo.owner, repo: repo.repo, tag: releaseTag(b.ideaId), sha });
  } else {
    for (const t of tasks) {
      ctx.tick(`merging ${t.branch}`);
      try {
        const res = await mergeLocal(cache, { branch: t.branch, base: b.base, method, message: `Merge ${t.branch}: ${t.title || t.key}`, trailers: { ...trailersOf(ctx), 'Facteur-Task': t.key }, committer: ctx.env.author });
        sha = res.sha;
        merged.push({ key: t.key, branch: t.branch, sha });
      } catch (err) {
        if (err instanceof GitConflictError) throw new StageFailure('git_conflict', `${t.branch} conflicts with ${b.base}: ${err.paths.join(', ')}`);
        throw err;
      }
    }
  }
  if (ctx.env.tagReleases && repo.kind !== 'github') {
    // local: the tag on the base's new tip, pushed to the remote from the cache
    const paths = cachePaths(cache.cacheDir, repo.remote);
    await git(['--git-dir', paths.gitDir, 'push', '--force', 'origin', `${sha}:refs/tags/${releaseTag(b.ideaId)}`], { token: ctx.env.githubToken });
  }
  await ctx.artifact('integration', {
    merged: true, sha, method, into: b.base, branches: merged, pr: merged.at(-1)?.pr ?? null,
    ...(ctx.env.tagReleases ? { tag: releaseTag(b.ideaId) } : {}),
  });
  return { message: `${merged.length} branches merged into ${b.base} (${method}), now ${sha.slice(0, 12)}` };
}

/** The tag integration puts on what it merged, when FACTEUR_TAG_RELEASES asks for one. */
const releaseTag = (ideaId: string) => `facteur/release-${ideaId.slice(0, 8)}`;

async function deploy(ctx: StageContext): Promise<StageResult> {
  const b = ctx.inputs.body;
  const repo = repositoryOf(ctx);
  return withWorkspace(await workspace(ctx, repo, { continueBranch: false }), async (ws) => {
    // the worktree starts from the base's tip: what integration merged
    const sha = (await git(['rev-parse', 'HEAD'], { cwd: ws.dir })).stdout.trim();
    const version = `facteur-${b.ideaId.slice(0, 8)}-${sha.slice(0, 12)}`;
    const env = { ...ctx.processEnv, FACTEUR_DEPLOY_SHA: sha, FACTEUR_DEPLOY_VERSION: version, FACTEUR_DEPLOY_REPOSITORY: b.repository };
    if (ctx.env.deployCommand) {
      const done = await runCommand(ctx.env.deployCommand, { cwd: ws.dir, env, timeoutMs: ctx.env.deployTimeoutMs, capBytes: ctx.env.outputCapBytes, onTick: () => ctx.tick('deploying'), tickMs: ctx.env.heartbeatMs });
      if (done.timedOut || done.exitCode !== 0) throw failureOf({ check: 'deploy', ...done }, `FACTEUR_DEPLOY_COMMAND ${done.timedOut ? 'timed out' : `exited with ${done.exitCode ?? done.signal}`}`, 'deploy_failed');
      if (ctx.env.deployVerifyCommand) {
        const check = await runCommand(ctx.env.deployVerifyCommand, { cwd: ws.dir, env, timeoutMs: ctx.env.deployTimeoutMs, capBytes: ctx.env.outputCapBytes, onTick: () => ctx.tick('verifying the deploy'), tickMs: ctx.env.heartbeatMs });
        if (check.timedOut || check.exitCode !== 0) throw failureOf({ check: 'deploy-verify', ...check }, `FACTEUR_DEPLOY_VERIFY_COMMAND ${check.timedOut ? 'timed out' : `exited with ${check.exitCode ?? check.signal}`}: not deployed`, 'deploy_unverified');
      }
    } else {
      // No deploy command (local mode): the release is a tag on the base's tip, verified by
      // the repository's own test gates on exactly that commit.
      const report = await gates(ctx, ws, await detectToolchains(ws.dir));
      await git(['tag', '-f', version, sha], { cwd: ws.dir });
      await git(['push', '--force', 'origin', `refs/tags/${version}`], { cwd: ws.dir, token: ctx.env.githubToken });
      ctx.tick(`tagged ${version} (${report.checks.length} checks passed)`);
    }
    await ctx.artifact('deploy', { deployed: true, version, sha });
    return { message: `deployed ${version}` };
  });
}
