// The example agent (examples/agent/example-agent.mjs), run as a real process in a real
// clone of the sample repository, as local mode runs it: its plan passes the project's plan
// validator, each task's change is a module whose new test passes under `node --test`, and
// its knobs (EXAMPLE_FAIL, EXAMPLE_REVIEW, EXAMPLE_BREAK_TEST) do what they say.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assemblePrompt } from '../../../shared/agent/prompt.js';
import { parseUsage } from '../../../shared/agent/usage.js';
import { STAGES, type Stage } from '../../../shared/lifecycle/states.js';
import { ensureSampleRepo } from '../../../shared/local/sample-repo.js';
import { TASK_KEY, validatePlan, type Plan } from '../../../shared/plans/index.js';

const AGENT = resolve('examples/agent/example-agent.mjs');
const IDEA = 'Word count for notes!';
let root: string;
let bare: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'facteur-example-agent-'));
  bare = (await ensureSampleRepo(join(root, 'data'))).bare;
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A fresh clone of the sample repository, as a run's worktree. */
function worktree(): string {
  const dir = join(root, `wt-${++n}`);
  execFileSync('git', ['clone', '--quiet', bare, dir]);
  return dir;
}

interface AgentRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly out: string;
}

/** Runs the agent for `stage` in `cwd` the way facteur-agent does: prompt file, input and output dirs. */
function runAgent(stage: Stage, cwd: string, body: Record<string, unknown>, env: Record<string, string> = {}): AgentRun {
  const run = join(root, `run-${++n}`);
  const input = join(run, 'in');
  const out = join(run, 'out');
  mkdirSync(input, { recursive: true });
  mkdirSync(out);
  writeFileSync(join(input, 'event-body.json'), JSON.stringify({ stage, ideaTitle: IDEA, ...body }));
  // the hostile cases below reach the agent itself: their prompt is built from safe stand-ins
  const key = String(body.taskKey ?? 'planning-1');
  const prompt = assemblePrompt({
    stage: (STAGES as readonly string[]).includes(stage) ? stage : 'implementation',
    task: { key: TASK_KEY.test(key) ? key : 'hostile', title: String(body.title ?? IDEA), description: String(body.description ?? 'Count the words of a note.') },
    repository: 'local/sample',
    branch: 'facteur/abcd1234/x',
    base: 'main',
  });
  writeFileSync(join(run, 'prompt.md'), prompt.text);
  const r = spawnSync(process.execPath, [AGENT], {
    cwd,
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH ?? '',
      FACTEUR_STAGE: stage,
      FACTEUR_PROMPT_FILE: join(run, 'prompt.md'),
      FACTEUR_INPUT_DIR: input,
      FACTEUR_OUTPUT_DIR: out,
      ...env,
    },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, out };
}

/** `node --test` in the worktree: the sample's own test command. */
function nodeTest(cwd: string): { code: number | null; output: string } {
  const r = spawnSync(process.execPath, ['--test'], { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' } });
  return { code: r.status, output: r.stdout + r.stderr };
}

function planOf(): Plan {
  const r = runAgent('planning', worktree(), { taskKey: 'planning-1' });
  expect(r.code, r.stderr).toBe(0);
  return validatePlan(JSON.parse(readFileSync(join(r.out, 'plan.json'), 'utf8')));
}

describe('example agent', () => {
  it('plans 3 tasks keyed from the idea title, chained by hard dependencies, that the plan validator accepts', () => {
    const plan = planOf();
    expect(plan.tasks.map((t) => t.key)).toEqual(['word-count-for-notes-core', 'word-count-for-notes-edge-cases', 'word-count-for-notes-summary']);
    expect(plan.tasks.map((t) => t.dependsOn)).toEqual([[], [{ key: plan.tasks[0]!.key, type: 'hard' }], [{ key: plan.tasks[1]!.key, type: 'hard' }]]);
    for (const t of plan.tasks) expect(t.paths).toEqual(['src/', 'test/']);
    expect(planOf()).toEqual(plan); // deterministic
  });

  it('implements every planned task in a clone with a real module and a test that passes', () => {
    const plan = planOf();
    const wt = worktree();
    for (const [i, t] of plan.tasks.entries()) {
      const r = runAgent('implementation', wt, { taskKey: t.key, title: t.title, attempt: 1 }, { FACTEUR_ATTEMPT: '1' });
      expect(r.code, r.stderr).toBe(0);
      expect(existsSync(join(wt, 'src', `${t.key}.js`))).toBe(true);
      const test = nodeTest(wt);
      expect(test.code, test.output).toBe(0);
      expect(test.output).toContain(`ok ${i + 3} - ${t.key} counts words`); // after the sample's 2 tests
    }
    const status = execFileSync('git', ['status', '--porcelain'], { cwd: wt, encoding: 'utf8' });
    expect(status.split('\n').filter(Boolean).sort()).toEqual(plan.tasks.flatMap((t) => [`?? src/${t.key}.js`, `?? test/${t.key}.test.js`]).sort());
  });

  it('EXAMPLE_BREAK_TEST: the first attempt of that task writes a failing test, the second fixes it', () => {
    const key = 'word-count-for-notes-core';
    const wt = worktree();
    const first = runAgent('implementation', wt, { taskKey: key }, { FACTEUR_ATTEMPT: '1', EXAMPLE_BREAK_TEST: key });
    expect(first.code, first.stderr).toBe(0);
    const failing = nodeTest(wt);
    expect(failing.code).not.toBe(0);
    expect(failing.output).toContain(`not ok 3 - ${key} counts words`);
    const second = runAgent('implementation', wt, { taskKey: key }, { FACTEUR_ATTEMPT: '2', EXAMPLE_BREAK_TEST: key });
    expect(second.code, second.stderr).toBe(0);
    expect(nodeTest(wt).code).toBe(0);
    // another task is not broken by the knob
    runAgent('implementation', wt, { taskKey: 'other-task' }, { FACTEUR_ATTEMPT: '1', EXAMPLE_BREAK_TEST: key });
    expect(nodeTest(wt).code).toBe(0);
  });

  it('reviews: approves by default; EXAMPLE_REVIEW=changes_requested asks the first review to fix the first task', () => {
    const wt = worktree();
    const approved = runAgent('review', wt, { taskKey: 'review-1' });
    expect(approved.code, approved.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(approved.out, 'review.json'), 'utf8'))).toMatchObject({ verdict: 'approved', comments: [] });

    const asked = runAgent('review', wt, { taskKey: 'review-1' }, { EXAMPLE_REVIEW: 'changes_requested' });
    const verdict = JSON.parse(readFileSync(join(asked.out, 'review.json'), 'utf8')) as { verdict: string; summary: string; comments: unknown[]; tasks: string[] };
    expect(verdict.verdict).toBe('changes_requested');
    expect(verdict.tasks).toEqual(['word-count-for-notes-core']);
    expect(verdict.comments).toHaveLength(1);
    const second = runAgent('review', wt, { taskKey: 'review-2' }, { EXAMPLE_REVIEW: 'changes_requested' });
    expect(JSON.parse(readFileSync(join(second.out, 'review.json'), 'utf8')).verdict).toBe('approved');

    // the fix: implementation with the review context adds the empty-input case, and it passes
    const fix = runAgent('implementation', wt, { taskKey: 'word-count-for-notes-core', reviewContext: { summary: verdict.summary, comments: verdict.comments, cycle: 1 } }, { FACTEUR_ATTEMPT: '3' });
    expect(fix.code, fix.stderr).toBe(0);
    const test = nodeTest(wt);
    expect(test.code, test.output).toBe(0);
    expect(test.output).toContain('word-count-for-notes-core counts no words in empty input');
  });

  it('EXAMPLE_FAIL=<stage> makes that stage exit non-zero with a clear message, and only that stage', () => {
    const wt = worktree();
    const r = runAgent('planning', wt, { taskKey: 'planning-1' }, { EXAMPLE_FAIL: 'planning' });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('EXAMPLE_FAIL=planning');
    expect(existsSync(join(r.out, 'plan.json'))).toBe(false);
    expect(runAgent('review', wt, { taskKey: 'review-1' }, { EXAMPLE_FAIL: 'planning' }).code).toBe(0);
    expect(runAgent('implementation', wt, { taskKey: 'k1' }, { EXAMPLE_FAIL: 'implementation' }).code).toBe(1);
  });

  it('prints a deterministic FACTEUR_USAGE line that grows with the prompt', () => {
    const usage = (description: string) => parseUsage(runAgent('planning', worktree(), { taskKey: 'planning-1', description }).stdout);
    const a = usage('short');
    expect(a).toEqual(usage('short'));
    expect(a?.inputTokens).toBeGreaterThan(0);
    expect(a?.outputTokens).toBeGreaterThan(0);
    expect(a?.costUsd).toBeGreaterThan(0);
    expect(usage('x'.repeat(4000))!.inputTokens!).toBeGreaterThan(a!.inputTokens! + 900);
  });

  it('refuses a task key that is not one, and a missing prompt file, writing nothing', () => {
    const wt = worktree();
    const bad = runAgent('implementation', wt, { taskKey: '../../escape' });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a task key');
    expect(existsSync(join(wt, 'src', '../../escape.js'))).toBe(false);
    const noPrompt = spawnSync(process.execPath, [AGENT], { cwd: wt, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', FACTEUR_STAGE: 'planning' } });
    expect(noPrompt.status).toBe(2);
    expect(noPrompt.stderr).toContain('FACTEUR_PROMPT_FILE is not set');
    const unknown = runAgent('poetry' as Stage, wt, {});
    expect(unknown.code).toBe(2);
  });
});
