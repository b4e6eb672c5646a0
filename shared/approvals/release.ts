// An idea waits in `awaiting_approval` while any of its approvals is pending; the last one
// decided sends it back to where it was (`resume_status`). The rules helper writes the same
// function (the integrator keeps one): it is small on purpose, so the two agree.
import type { Tx } from '../db/index.js';
import type { IdeaStatus } from '../lifecycle/states.js';
import { moveIdea } from '../lifecycle/transitions.js';

/**
 * In the caller's transaction, under the idea's lock: moves the idea out of
 * `awaiting_approval` to its resume status when no approval of it is pending. Returns
 * whether it moved.
 */
export async function releaseIdea(tx: Tx, ideaId: string): Promise<boolean> {
  const [idea] = await tx<{ status: IdeaStatus; resume_status: IdeaStatus | null }[]>`
    select status, resume_status from codex_kb.ideas where id = ${ideaId}`;
  if (!idea || idea.status !== 'awaiting_approval') return false;
  const [open] = await tx`select 1 from codex_kb.approvals where idea_id = ${ideaId} and status = 'pending' limit 1`;
  if (open) return false;
  return moveIdea(tx, ideaId, 'awaiting_approval', idea.resume_status ?? 'running_tasks', null, { resumeStatus: null });
}
