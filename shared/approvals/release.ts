// Releasing an idea that waited for approvals: once none of its approvals is pending any
// more, the tasks still held (`awaiting_approval` with no approval of their own left, such
// as the implementation tasks an L0 plan approval held) go back to `pending`, and the idea
// leaves `awaiting_approval` for the status it was in (its resume status). The approvals
// code calls it after an approval is granted, in the same transaction, under the idea's lock.
import type { Tx } from '../db/index.js';
import type { IdeaStatus } from '../lifecycle/states.js';
import { moveIdea } from '../lifecycle/transitions.js';

/** The status the idea resumed, or null when it still waits (or was not waiting). */
export async function releaseIdea(tx: Tx, ideaId: string): Promise<IdeaStatus | null> {
  const [idea] = await tx<{ status: IdeaStatus; resume_status: IdeaStatus | null; pending: number }[]>`
    select status, resume_status,
           (select count(*)::int from codex_kb.approvals a where a.idea_id = i.id and a.status = 'pending') as pending
      from codex_kb.ideas i where i.id = ${ideaId}`;
  if (!idea || idea.status !== 'awaiting_approval' || idea.pending > 0) return null;
  await tx`
    update codex_kb.tasks set state = 'pending', state_reason = null
     where idea_id = ${ideaId} and state = 'awaiting_approval'`;
  const to = idea.resume_status ?? 'registered';
  if (!(await moveIdea(tx, ideaId, 'awaiting_approval', to, null, { resumeStatus: null }))) return null;
  return to;
}
