// `npm start` in-process: the embedded PostgreSQL (PGlite) and a real server, every function mounted.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../../shared/log/index.js';
import { startLocal } from '../../shared/local/index.js';
import { createTestDb } from '../helpers/db.js';
import { ideaSpec, postEvent } from '../helpers/http.js';

async function exercise(url: string) {
  const body = JSON.stringify(ideaSpec({ id: 'local-1', repository: 'local/sample' }));
  const first = await postEvent(url, { topic: 'codex.intent', body, path: '/intake' });
  expect(first.status).toBe(202);
  const again = await postEvent(url, { topic: 'codex.intent', body, path: '/intake' });
  expect(again).toEqual({ status: 200, body: { ...first.body, duplicate: true } });
  const list = (await (await fetch(`${url}/status/v1/ideas`)).json()) as any;
  expect(list.items.map((i: { id: string }) => i.id)).toEqual([first.body.ideaId]);
  const detail = (await (await fetch(`${url}/status/v1/ideas/${first.body.ideaId}`)).json()) as any;
  expect(detail.tasks[0]).toMatchObject({ key: 'planning', stage: 'planning' });
  expect((await fetch(`${url}/nowhere`)).status).toBe(404);
  return first.body.ideaId as string;
}

/** Polls the status API until the idea reaches `status`; returns its detail. */
async function waitFor(url: string, ideaId: string, status: string, timeoutMs: number): Promise<any> {
  const until = Date.now() + timeoutMs;
  let last: any;
  while (Date.now() < until) {
    last = (await (await fetch(`${url}/status/v1/ideas/${ideaId}`)).json()) as any;
    if (last.idea.status === status) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`idea still ${last?.idea?.status} (${last?.idea?.statusReason}) after ${timeoutMs} ms`);
}

describe('local mode', () => {
  it('starts on the embedded PostgreSQL, applies migrations, serves every function, keeps data across restarts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    try {
      const started = Date.now();
      let local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '1' }, log: silentLogger, tickMs: 250 });
      // ~3–6 s alone; the bound catches a regression, with room for a machine busy with the
      // other local-mode suites (their processes start PGlite too): 12 s was seen at load 12
      expect(Date.now() - started).toBeLessThan(20_000);
      const ideaId = await exercise(local.url);
      // the whole life, run by the local workflow runner and the example stages
      const done = await waitFor(local.url, ideaId, 'completed', 90_000);
      const byStage = (s: string) => done.tasks.filter((t: { stage: string }) => t.stage === s);
      expect(byStage('implementation')).toHaveLength(3);
      expect(byStage('implementation').every((t: { state: string }) => t.state === 'succeeded')).toBe(true);
      expect(byStage('implementation').filter((t: { dependsOn: unknown[] }) => t.dependsOn.length > 0)).toHaveLength(2);
      for (const s of ['planning', 'review', 'integration', 'deploy']) expect(byStage(s)).toHaveLength(1);
      expect(done.runs).toHaveLength(7);
      for (const r of done.runs) {
        expect(r).toMatchObject({ status: 'succeeded', attempt: 1, workflowName: expect.stringMatching(/^facteur-/) });
        expect(Date.parse(r.completedAt)).toBeGreaterThanOrEqual(Date.parse(r.startedAt));
        expect(Date.parse(r.startedAt)).toBeGreaterThanOrEqual(Date.parse(r.queuedAt));
      }
      // real work in a real repository: the sample repo's main holds one commit per task,
      // each with its trailers, merged by integration; the release tag on its tip
      const bare = join(dir, 'repos', 'sample.git');
      const git = (...args: string[]) => execFileSync('git', ['-C', bare, ...args], { encoding: 'utf8' }).trim();
      const taskCommits = git('log', '--no-merges', '--format=%(trailers:key=Facteur-Task,valueonly)', 'main').split('\n').filter(Boolean);
      expect(taskCommits.sort()).toEqual(byStage('implementation').map((t: { key: string }) => t.key).sort());
      expect(git('tag', '--points-at', 'main')).toMatch(/^facteur-/);
      const implRun = done.runs.find((r: { taskId: string }) => r.taskId === byStage('implementation')[0].id);
      const run = (await (await fetch(`${local.url}/status/v1/runs/${implRun.id}`)).json()) as any;
      const report = run.artifacts.find((a: { kind: string }) => a.kind === 'test-report').data;
      expect(report).toMatchObject({ toolchain: 'node', passed: true });
      expect(report.checks[0]).toMatchObject({ name: 'test', command: 'npm test', exitCode: 0, failed: 0 });
      expect(report.checks[0].passed).toBeGreaterThanOrEqual(2); // the sample's own test and the task's
      const stats = run.artifacts.find((a: { kind: string }) => a.kind === 'diff-stats').data;
      expect(stats.files.map((f: { path: string }) => f.path).sort()).toEqual([`src/${byStage('implementation')[0].key}.js`, `test/${byStage('implementation')[0].key}.test.js`]);
      await local.close();
      local = await startLocal({ env: { PORT: '0', FACTEUR_DATA_DIR: dir }, log: silentLogger });
      const list = (await (await fetch(`${local.url}/status/v1/ideas`)).json()) as any;
      expect(list.items).toHaveLength(1);
      await local.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('a task whose test fails is retried, and the retry that fixes it completes the idea', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    try {
      const env = { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_MONITOR_WINDOW_S: '0', FACTEUR_RETRY_BASE_MS: '0', EXAMPLE_BREAK_TEST: 'fix-login-core', FACTEUR_TAG_RELEASES: '1' };
      const local = await startLocal({ env, log: silentLogger, tickMs: 250 });
      try {
        const r = await postEvent(local.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'local-retry', title: 'Fix login', repository: 'local/sample' })), path: '/intake' });
        expect(r.status).toBe(202);
        const done = await waitFor(local.url, r.body.ideaId, 'completed', 120_000);
        const core = done.tasks.find((t: { key: string }) => t.key === 'fix-login-core');
        const runs = done.runs.filter((x: { taskId: string }) => x.taskId === core.id).sort((a: any, b: any) => a.attempt - b.attempt);
        expect(runs.map((x: any) => [x.attempt, x.status, x.errorCode])).toEqual([[1, 'failed', 'test_failure'], [2, 'succeeded', null]]);
        expect(runs[0].errorMessage).toMatch(/1 failed/);
        // asked to, integration tagged what it merged
        const tags = execFileSync('git', ['-C', join(dir, 'repos', 'sample.git'), 'tag', '--list', 'facteur/release-*'], { encoding: 'utf8' }).trim();
        expect(tags).toBe(`facteur/release-${String(r.body.ideaId).slice(0, 8)}`);
      } finally {
        await local.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);

  it('a stage whose agent keeps failing blocks the idea, each run failed with the agent\'s code', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    try {
      const env = { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_RETRY_BASE_MS: '0', EXAMPLE_FAIL: 'planning' };
      const local = await startLocal({ env, log: silentLogger, tickMs: 250 });
      try {
        const r = await postEvent(local.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'local-fail', repository: 'local/sample' })), path: '/intake' });
        const blocked = await waitFor(local.url, r.body.ideaId, 'blocked', 90_000);
        expect(blocked.runs.map((x: any) => x.errorCode)).toEqual(['agent_error', 'agent_error', 'agent_error']);
        expect(blocked.runs[0].errorMessage).toMatch(/the agent exited with 1.*EXAMPLE_FAIL/);
      } finally {
        await local.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it.each([
    {
      name: 'a plan the agent wrote that does not validate',
      agent: [process.execPath, '-e', "require('fs').writeFileSync(process.env.FACTEUR_OUTPUT_DIR + '/plan.json', JSON.stringify({ tasks: [] }))"],
      code: 'invalid_plan',
      attempts: 1, // terminal: the control plane does not retry a plan that cannot be valid
      message: /the plan the agent wrote does not validate: .*tasks/,
    },
    {
      name: 'an agent that writes outside the task\'s paths',
      agent: [process.execPath, join(import.meta.dirname, 'fixtures', 'agent-outside-scope.mjs')],
      code: 'scope_violation',
      attempts: 3,
      message: /outside the task's paths \(src\/, test\/\): OUTSIDE\.md/,
    },
  ])('$name: $attempts attempt(s) fail with $code naming the problem, then the idea is blocked', async ({ agent, code, attempts, message }) => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    try {
      const env = { PORT: '0', FACTEUR_DATA_DIR: dir, FACTEUR_RETRY_BASE_MS: '0', FACTEUR_AGENT_COMMAND: JSON.stringify(agent) };
      const local = await startLocal({ env, log: silentLogger, tickMs: 250 });
      try {
        const r = await postEvent(local.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: `local-${code}`, repository: 'local/sample' })), path: '/intake' });
        const blocked = await waitFor(local.url, r.body.ideaId, 'blocked', 120_000);
        const failed = blocked.runs.filter((x: any) => x.status === 'failed');
        expect(failed.map((x: any) => x.errorCode)).toEqual(Array(attempts).fill(code));
        expect(failed[0].errorMessage).toMatch(message);
      } finally {
        await local.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 150_000);

  it('uses DATABASE_URL when it is set', async () => {
    const db = await createTestDb({ migrated: false });
    // the data dir still holds the lock and the runs' directories: never the repository's .facteur/
    const dir = mkdtempSync(join(tmpdir(), 'facteur-local-'));
    const local = await startLocal({ env: { PORT: '0', DATABASE_URL: db.url, FACTEUR_DATA_DIR: dir }, log: silentLogger });
    try {
      await exercise(local.url);
    } finally {
      await local.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
