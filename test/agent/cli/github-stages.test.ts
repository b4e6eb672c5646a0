// The GitHub path of facteur-agent's stages, end to end at the boundaries: the repository
// served by a REAL `git http-backend` behind HTTP Basic auth (as GitHub asks for it), the
// REST API by the FAKE GitHub server (test/agent/github/fake-github.ts), the example agent
// doing the work. Implementation pushes its branch over HTTP and opens the pull request;
// its retry updates that pull request instead of opening another; integration merges it
// once its checks are green. What the stages report is collected as the CLI would send it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAgentEnv } from '../../../shared/agent/env.js';
import { readInputs } from '../../../shared/agent/inputs.js';
import { runStage, StageFailure } from '../../../shared/agent/stages.js';
import { startGitHttpServer, type GitHttpServer } from '../git/http-git-server.js';
import { startFakeGitHub, type FakeGitHub } from '../github/fake-github.js';

const TOKEN = 'ghs_FAKEtokenForTheHttpGitServer0001';
const root = mkdtempSync(join(tmpdir(), 'facteur-gh-stages-'));
const bare = join(root, 'served', 'acme', 'web.git');
const BRANCH = 'facteur/0badcafe/core';
const example = join(import.meta.dirname, '../../../examples/agent/example-agent.mjs');
let git: GitHttpServer;
let github: FakeGitHub;

const run = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

beforeAll(async () => {
  mkdirSync(join(root, 'served', 'acme'), { recursive: true });
  run(root, '-c', 'init.defaultBranch=main', 'init', '--bare', '--quiet', bare);
  const seed = join(root, 'seed');
  run(root, '-c', 'init.defaultBranch=main', 'init', '--quiet', seed);
  writeFileSync(join(seed, 'package.json'), JSON.stringify({ name: 'web', private: true, type: 'module', scripts: { test: 'node --test' } }));
  mkdirSync(join(seed, 'test'));
  writeFileSync(join(seed, 'test', 'base.test.js'), "import test from 'node:test';\ntest('base', () => {});\n");
  run(seed, 'add', '--all');
  run(seed, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'initial');
  run(seed, 'push', '--quiet', bare, 'main');
  git = await startGitHttpServer(join(root, 'served'), TOKEN);
  github = await startFakeGitHub(TOKEN);
  github.addRepo('acme/web');
});
afterAll(async () => {
  await git?.close();
  await github?.close();
  rmSync(root, { recursive: true, force: true });
});

async function stage(name: string, body: Record<string, unknown>, attempt = 1, token = TOKEN, extra: Record<string, string> = {}) {
  const dir = mkdtempSync(join(root, `${name}-`));
  mkdirSync(join(dir, 'in'));
  writeFileSync(join(dir, 'in', 'event-body.json'), JSON.stringify({
    stage: name, ideaId: '0badcafe-0000-4000-8000-000000000001', ideaTitle: 'Word count', taskKey: 'core', title: 'Core: word count',
    description: 'Count words.', acceptanceCriteria: ['npm test passes'], paths: ['src/', 'test/'], repository: 'acme/web', branch: BRANCH, base: 'main',
    ...body,
  }));
  const env = parseAgentEnv({
    FACTEUR_INPUT_DIR: join(dir, 'in'), FACTEUR_OUTPUT_DIR: join(dir, 'out'), FACTEUR_WORK_DIR: join(root, 'work'),
    FACTEUR_RUN_ID: `run-${name}-${attempt}-${Math.random().toString(36).slice(2, 8)}`, FACTEUR_ATTEMPT: String(attempt), FACTEUR_HEARTBEAT_SECONDS: '1',
    FACTEUR_AGENT_COMMAND: JSON.stringify([process.execPath, example]),
    GH_TOKEN: token, FACTEUR_GITHUB_API_URL: github.url, FACTEUR_GIT_BASE_URL: git.url, FACTEUR_MERGE_METHOD: 'squash',
    ...extra,
  });
  mkdirSync(env.outputDir, { recursive: true });
  const reported: { kind: string; data: any }[] = [];
  const result = await runStage({ env, inputs: await readInputs(env.inputDir), artifact: async (kind, data) => void reported.push({ kind, data }), tick: () => {}, processEnv: process.env });
  return { result, reported, dir };
}

describe('facteur-agent on GitHub (real git over HTTP, FAKE REST API)', () => {
  it('implementation pushes the task branch through the credential helper and opens its pull request', async () => {
    const { reported } = await stage('implementation', {});
    expect(reported.map((r) => r.kind)).toEqual(['prompt', 'toolchain', 'test-report', 'diff-stats']);
    expect(reported.find((r) => r.kind === 'test-report')!.data).toMatchObject({ passed: true, toolchain: 'node' });
    // the pull request's author (the token's account) is the change's author, for approvals
    expect(reported.find((r) => r.kind === 'diff-stats')!.data).toMatchObject({ author: 'facteur-bot', pullRequest: { number: 1, url: 'https://github.fake/acme/web/pull/1' } });
    // on the server: the branch, with the task's commit and its trailers
    expect(run(bare, 'log', '-1', '--format=%(trailers:key=Facteur-Task,valueonly)', BRANCH)).toBe('core');
    expect(git.authorizations.length).toBeGreaterThan(0); // the token reached git through the helper
    const pulls = github.repo('acme/web').pulls;
    expect(pulls).toHaveLength(1);
    expect(pulls[0]).toMatchObject({ head: BRANCH, base: 'main', title: 'Core: word count', state: 'open' });
    expect(pulls[0]!.body).toContain('0badcafe-0000-4000-8000-000000000001');
    // the token is in no artifact and no file the stage wrote
    expect(JSON.stringify(reported)).not.toContain(TOKEN);
  });

  it('a retry continues the pushed branch and updates the same pull request', async () => {
    const before = run(bare, 'rev-parse', BRANCH);
    await stage('implementation', { title: 'Core: word count (again)' }, 2);
    expect(run(bare, 'merge-base', '--is-ancestor', before, BRANCH)).toBe(''); // nothing thrown away
    const pulls = github.repo('acme/web').pulls;
    expect(pulls).toHaveLength(1);
    expect(pulls[0]!.title).toBe('Core: word count (again)');
  });

  it('integration merges the pull request by the configured method, and reports it', async () => {
    const { reported } = await stage('integration', { taskKey: 'integration-1', branch: 'facteur/0badcafe/integration-1', implementation: [{ key: 'core', branch: BRANCH, title: 'Core', state: 'succeeded' }] });
    const pr = github.repo('acme/web').pulls[0]!;
    expect(pr.merged).toBe(true);
    const merge = github.requests.find((r) => r.method === 'PUT' && r.path.endsWith(`/pulls/${pr.number}/merge`));
    expect(merge?.body).toMatchObject({ merge_method: 'squash' });
    expect(reported).toEqual([{ kind: 'integration', data: expect.objectContaining({ merged: true, method: 'squash', into: 'main', pr: pr.number, sha: pr.mergeCommitSha }) }]);
  });

  it.each([
    { what: 'a refused token', body: {}, token: 'ghs_wrong', code: 'auth_failed' },
    { what: 'a repository that does not exist', body: { repository: 'acme/nope' }, token: TOKEN, code: 'repository_not_found' },
  ])('$what fails the run with $code, the token in no message', async ({ body, token, code }) => {
    const err = (await stage('implementation', body, 1, token).catch((e: unknown) => e)) as { code?: string; message: string };
    expect(err.code).toBe(code);
    expect(err.message).not.toContain(token);
  });

  it('a push that branch protection refuses fails the run with push_rejected, naming the reason', async () => {
    const hook = join(bare, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\nwhile read old new ref; do case "$ref" in refs/heads/facteur/0badcafe/protected) echo "protected branch: pushes need a review" >&2; exit 1;; esac; done\n', { mode: 0o755 });
    try {
      const err = (await stage('implementation', { branch: 'facteur/0badcafe/protected' }).catch((e: unknown) => e)) as { code?: string; message: string };
      expect(err.code).toBe('push_rejected');
      expect(err.message).toContain('protected branch');
      expect(github.repo('acme/web').pulls.some((p) => p.head === 'facteur/0badcafe/protected')).toBe(false);
    } finally {
      rmSync(hook);
    }
  });

  it('deploy runs the deploy command, then the verification, on the base\'s tip; deployed only when both pass', async () => {
    const marker = join(root, 'deployed.txt');
    const deployCmd = JSON.stringify([process.execPath, '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, process.env.FACTEUR_DEPLOY_VERSION + ' ' + process.env.FACTEUR_DEPLOY_SHA)`]);
    const ok = JSON.stringify([process.execPath, '-e', `process.exit(require('fs').existsSync(${JSON.stringify(marker)}) ? 0 : 3)`]);
    const body = { taskKey: 'deploy-1', branch: 'facteur/0badcafe/deploy-1' };
    const { reported } = await stage('deploy', body, 1, TOKEN, { FACTEUR_DEPLOY_COMMAND: deployCmd, FACTEUR_DEPLOY_VERIFY_COMMAND: ok });
    const tip = run(bare, 'rev-parse', 'main');
    expect(reported).toEqual([{ kind: 'deploy', data: { deployed: true, sha: tip, version: `facteur-0badcafe-${tip.slice(0, 12)}` } }]);
    expect(execFileSync('cat', [marker], { encoding: 'utf8' })).toBe(`facteur-0badcafe-${tip.slice(0, 12)} ${tip}`);
    // a verification that fails: not deployed, whatever the deploy command said
    const failing = JSON.stringify([process.execPath, '-e', "console.error('rollout status: 0 of 2 updated replicas are available'); process.exit(1)"]);
    const err = (await stage('deploy', body, 2, TOKEN, { FACTEUR_DEPLOY_COMMAND: deployCmd, FACTEUR_DEPLOY_VERIFY_COMMAND: failing }).catch((e: unknown) => e)) as StageFailure;
    expect(err).toBeInstanceOf(StageFailure);
    expect(err.code).toBe('deploy_unverified');
    expect(err.message).toContain('0 of 2 updated replicas');
  });

  it('integration refuses to merge while a check fails', async () => {
    const other = 'facteur/0badcafe/other';
    github.repo('acme/web').pulls.push({ ...github.repo('acme/web').pulls[0]!, number: 99, head: other, merged: false, state: 'open', headSha: 'f'.repeat(40), mergeCommitSha: null });
    github.repo('acme/web').statuses.set(other, [{ context: 'ci/test', state: 'failure' }]);
    const err = await stage('integration', { taskKey: 'integration-2', branch: 'facteur/0badcafe/integration-2', implementation: [{ key: 'other', branch: other, title: 'Other', state: 'succeeded' }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StageFailure);
    expect((err as StageFailure).code).toBe('checks_not_green');
    expect((err as Error).message).toContain('ci/test failed');
  });
});
