// Local mode never loses a run to its own restarts: a clean shutdown with a stage running
// settles its run and gives the attempt back; a stage that dies is failed at once; after a
// forced exit or a kill -9, the next start (stopping the orphaned stage and sweeping its
// run dir) settles the run at once, attempt given back, so the idea goes on within seconds. The heartbeat timeout
// is set to 10 minutes here: nothing but that recovery could move the idea in time.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/spawn.js';
import { ideaSpec, postEvent } from '../helpers/http.js';
import { isAlive, removeDir, runDirs, stagePids, startLocalProcess, stop, tempDir, until, type Proc } from './proc.js';

const dataDir = tempDir('facteur-recovery-');
let local: Proc | undefined;
afterAll(async () => {
  if (local) await stop(local, 'SIGKILL');
  removeDir(dataDir);
});

interface Run { id: string; taskId: string; attempt: number; status: string; errorCode: string | null; queuedAt: string; submittedAt?: string; startedAt: string | null }
interface Detail {
  idea: { status: string };
  tasks: { id: string; key: string; attempts: number; maxAttempts: number; state: string }[];
  runs: Run[];
  events: { type: string; runId: string | null; payload: Record<string, unknown> }[];
}

describe('local mode recovery', () => {
  it('shutdown, a dying stage, a forced exit and kill -9 cost the idea no time and no attempt it did not use', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const env = (stepMs: number, graceS = 1) => ({
      FACTEUR_DATA_DIR: dataDir, PORT: String(port), EXAMPLE_STEP_MS: String(stepMs),
      FACTEUR_HEARTBEAT_TIMEOUT_S: '600', FACTEUR_SHUTDOWN_GRACE_S: String(graceS), FACTEUR_MONITOR_WINDOW_S: '1',
    });
    const detail = async (id: string) => (await (await fetch(`${url}/status/v1/ideas/${id}`)).json()) as Detail;
    // only the planning task's runs: once planning ends (10 ms steps in part 4) its successors'
    // first attempts would otherwise sort in among them
    const planningRuns = async (id: string) => {
      const d = await detail(id);
      const planning = d.tasks.find((t) => t.key === 'planning')!;
      return d.runs.filter((r) => r.taskId === planning.id).sort((a, b) => a.attempt - b.attempt);
    };
    const planningTask = async (id: string) => (await detail(id)).tasks.find((t) => t.key === 'planning')!;
    /** Waits for the planning run of `attempt` to have reported `started`; returns its stage's pid. */
    const stageOf = async (id: string, attempt: number) => {
      await until(`planning attempt ${attempt} started`, async () => (await planningRuns(id)).find((r) => r.attempt === attempt && r.status === 'running' && r.startedAt), 30_000);
      const [pid] = stagePids(dataDir);
      expect(pid).toBeDefined();
      return pid!;
    };

    // 1. a stage runs (60 s per step) when local mode is asked to stop
    local = await startLocalProcess(env(60_000));
    const posted = await postEvent(url, { topic: 'codex.intent', path: '/intake', body: JSON.stringify(ideaSpec({ id: 'recover-me', repository: 'local/sample' })) });
    expect(posted.status).toBe(202);
    const ideaId = posted.body.ideaId as string;
    const first = await stageOf(ideaId, 1);
    const t0 = Date.now();
    // `npm start` delivers one Ctrl-C twice (from the terminal, and forwarded by npm): one shutdown
    local.proc.kill('SIGINT');
    await new Promise((r) => setTimeout(r, 100));
    expect(await stop(local, 'SIGINT')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    const out = local.output();
    expect(out).not.toContain('forcing the exit');
    expect(out).toContain('shutdown: waiting up to 1s for 1 running stage(s) to report');
    expect(out).toContain('shutdown: stopped 1 stage(s) still running after the grace period');
    expect(out).toContain('shutdown: settled 1 interrupted run(s)');
    expect(isAlive(first)).toBe(false);
    expect(runDirs(dataDir)).toEqual([]);

    // 2. the next start runs the task again at once, with the attempt given back
    local = await startLocalProcess(env(60_000, 30));
    let readyAt = Date.now();
    const second = await stageOf(ideaId, 2);
    let runs = await planningRuns(ideaId);
    expect(runs[0]).toMatchObject({ attempt: 1, status: 'failed', errorCode: 'runner_stopped' });
    expect(Date.parse(runs[1]!.queuedAt) - readyAt).toBeLessThan(3000);
    expect(await planningTask(ideaId)).toMatchObject({ attempts: 2, maxAttempts: 4 });

    // a stage that dies without reporting is a failure of the stage: failed at once, retried, counted
    process.kill(-second, 'SIGKILL');
    const third = await stageOf(ideaId, 3);
    runs = await planningRuns(ideaId);
    expect(runs[1]).toMatchObject({ attempt: 2, status: 'failed', errorCode: 'stage_exited' });
    expect(await planningTask(ideaId)).toMatchObject({ attempts: 3, maxAttempts: 4 });

    // a second Ctrl-C during the 30 s grace period forces the exit: stages killed, lock released
    local.proc.kill('SIGINT');
    await local.waitFor(/waiting up to 30s for 1 running stage/);
    await new Promise((r) => setTimeout(r, 1200));
    expect(await stop(local, 'SIGINT')).toBe(130);
    expect(local.stderr()).toContain('forcing the exit');
    await until('the stage killed by the forced exit is gone', async () => !isAlive(third), 5000);
    expect(existsSync(join(dataDir, 'facteur.lock'))).toBe(false);

    // the run the forced exit left active is settled at the next start
    local = await startLocalProcess(env(60_000));
    const fourth = await stageOf(ideaId, 4);
    runs = await planningRuns(ideaId);
    expect(runs[2]).toMatchObject({ attempt: 3, status: 'failed', errorCode: 'runner_restarted' });

    // 3. kill -9 mid-run: the stage is orphaned, its run dir and the lock are left behind
    local.proc.kill('SIGKILL');
    await local.exited;
    expect(isAlive(fourth)).toBe(true);
    expect(runDirs(dataDir)).toHaveLength(1);
    expect(existsSync(join(dataDir, 'facteur.lock'))).toBe(true);

    // 4. the next start stops the orphan, sweeps its dir, settles its run, and the idea goes on at once
    local = await startLocalProcess(env(10));
    readyAt = Date.now();
    expect(local.output()).toContain('stopped a stage orphaned by the previous process');
    expect(local.output()).toMatch(/removed the run dirs a stopped process left behind.*"dirs":1/);
    expect(local.output()).toMatch(/settled the runs the previous process left active.*"runs":1/);
    expect(local.output()).toMatch(/taking over a stale lock/);
    await until('the orphaned stage is gone', async () => !isAlive(fourth), 5000);
    await until('planning attempt 5 queued', async () => (await planningRuns(ideaId)).find((r) => r.attempt === 5), 5000);
    runs = await planningRuns(ideaId);
    expect(runs[3]).toMatchObject({ attempt: 4, status: 'failed', errorCode: 'runner_restarted' });
    expect(Date.parse(runs[4]!.queuedAt) - readyAt).toBeLessThan(3000);
    // of its 3 attempts the task used 2 (the first claim and the stage that died): 1 is left, as before the kill
    const task = await planningTask(ideaId);
    expect(task).toMatchObject({ attempts: 5, maxAttempts: 6 });
    const returned = (await detail(ideaId)).events.filter((e) => e.type === 'task.attempt_returned');
    expect(returned.map((e) => [e.payload.attempt, e.payload.reason])).toEqual([[1, 'runner_stopped'], [3, 'runner_restarted'], [4, 'runner_restarted']]);

    await until('the idea completed', async () => (await detail(ideaId)).idea.status === 'completed', 150_000, 500);
    expect(Date.now() - readyAt).toBeLessThan(150_000); // the heartbeat timeout alone would have taken 600 s
    const done = await detail(ideaId);
    expect(done.tasks.every((t) => t.state === 'succeeded')).toBe(true);
    await until('no run dir left once every run ended', async () => runDirs(dataDir).length === 0, 5000);

    expect(await stop(local, 'SIGTERM')).toBe(0);
    local = undefined;
    expect(readdirSync(dataDir).sort()).toEqual(['pgdata', 'repos', 'work']);
    // the git caches stay for the next runs; no run's worktree is left behind
    const caches = join(dataDir, 'work', 'git');
    for (const d of readdirSync(caches).filter((n) => n.endsWith('.worktrees'))) expect(readdirSync(join(caches, d))).toEqual([]);
    expect(readdirSync(join(dataDir, 'pgdata')).length).toBeGreaterThan(0);
  }, 300_000);
});
