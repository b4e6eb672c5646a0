// A Workflow's name is created at most once, even when its run ends (and the tick deletes the
// Workflow) while a retry of its create is on its way to the API server: the delete waits
// for the create (shared/dispatch's whileSubmitting / deleteWorkflow). Found by `npm run
// chaos` (seeds 202 and 303): the name was created, deleted by the heartbeat-timeout tick,
// and created again ~300 ms later by a retry that had asked "still wanted?" just before.
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { deleteWorkflow } from '../../shared/dispatch/index.js';
import { startSystem, submitIdea, tick } from '../helpers/system.js';

const isWorkflowCreate = (r: { method: string; path: string }) => r.method === 'POST' && r.path.endsWith('/workflows');

describe('a create retried while its run ends', () => {
  it('lands before the delete, never after: one create of the name, and no Workflow left', async () => {
    const sys = await startSystem();
    try {
      const kube = sys.kube!;
      const { ideaId } = await submitIdea(sys, { id: 'create-vs-delete' });
      const stored: string[] = [];
      kube.onCreate((wf) => {
        stored.push(wf.metadata.name);
        if (stored.length === 1) throw new Error('connection dropped after the object was stored');
      });
      let deleting: Promise<boolean> | undefined;
      let seen = 0;
      kube.onRequest(async (req) => {
        if (!isWorkflowCreate(req) || ++seen !== 2) return;
        // The retry has been let through and is at the API server. Now the run ends (its
        // heartbeats stopped) and the tick deletes its Workflow.
        const [run] = await sys.db.sql<{ external_run_id: string }[]>`
          update codex_kb.task_runs set status = 'failed', completed_at = now(), error_code = 'heartbeat_timeout'
           where idea_id = ${ideaId} returning external_run_id`;
        deleting = deleteWorkflow({ sql: sys.db.sql, workflows: sys.workflows }, run!.external_run_id);
        // Without the wait in deleteWorkflow, the delete is done well within this.
        await Promise.race([deleting, sleep(500)]);
      });
      await tick(sys);
      expect(deleting).toBeDefined();
      await expect(deleting).resolves.toBe(true); // it deleted the one that landed unanswered
      expect(stored).toHaveLength(1);
      expect(kube.workflows()).toEqual([]);
      const [run] = await sys.db.sql`select status from codex_kb.task_runs where idea_id = ${ideaId}`;
      expect(run!.status).toBe('failed');
    } finally {
      await sys.close();
    }
  });

  it('a retry finds the run moved on (another instance recorded it running) and makes nothing', async () => {
    const sys = await startSystem();
    try {
      const kube = sys.kube!;
      const { ideaId } = await submitIdea(sys, { id: 'moved-on' });
      kube.failMatching(isWorkflowCreate, 1, 503);
      kube.onRequest(async (req) => {
        if (!isWorkflowCreate(req)) return;
        // before the retry: the tick's resubmission on another instance made the Workflow and recorded it
        await sys.db.sql`update codex_kb.task_runs set status = 'running' where idea_id = ${ideaId}`;
      });
      await tick(sys);
      expect(kube.requests.filter(isWorkflowCreate)).toHaveLength(1);
    } finally {
      await sys.close();
    }
  });
});
