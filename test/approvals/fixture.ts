// An idea waiting for an approval, made the way the lifecycle makes one: registered through
// intake (real HTTP), its planning task and the idea moved to `awaiting_approval` by guarded
// moves, and the approval requested with `requestApproval` from an effective policy's
// `approvals` section (the system: test/helpers/system.ts, every function over real HTTP).
import { requestApproval } from '../../shared/approvals/index.js';
import { transaction } from '../../shared/db/index.js';
import { moveIdea, moveTask } from '../../shared/lifecycle/transitions.js';
import { ideaSpec, postEvent, readAnswer } from '../helpers/http.js';
import type { System } from '../helpers/system.js';

export interface PolicyApprovals {
  required?: number;
  eligible?: { logins?: string[]; teams?: string[]; roles?: string[] };
  expiresAfterH?: number;
  onExpiry?: 'block' | 'reask';
}

let n = 0;

/** An idea by `initiator` on `repository#issue`, waiting on one approval; its ids. */
export async function waitingIdea(sys: System, a: PolicyApprovals, o: { initiator?: string; repository?: string; issue?: number } = {}) {
  n += 1;
  const repository = o.repository ?? 'acme/web';
  const issue = o.issue ?? 100 + n;
  const r = await postEvent(sys.urls.intake, {
    topic: 'codex.intent',
    body: JSON.stringify(ideaSpec({
      id: `approval-${n}-${Math.random().toString(36).slice(2, 8)}`, repository,
      source: { type: 'github_issue', ref: `${repository}#${issue}` },
      initiator: { kind: 'github', login: o.initiator ?? 'octocat' },
    })),
  });
  if (r.status !== 202) throw new Error(`intake answered ${r.status}: ${JSON.stringify(r.body)}`);
  const { ideaId, taskId } = r.body as { ideaId: string; taskId: string };
  const approvalId = await transaction(sys.db.sql, [`idea:${ideaId}`], async (tx) => {
    const [task] = await tx<{ state: 'pending' | 'ready' }[]>`select state from codex_kb.tasks where id = ${taskId}`;
    await moveTask(tx, taskId, task!.state, 'awaiting_approval', 'policy: high risk');
    await moveIdea(tx, ideaId, 'registered', 'awaiting_approval', 'waiting for an approval', { resumeStatus: 'registered' });
    return requestApproval(tx, {
      ideaId, taskId, checkpoint: 'plan', reason: 'high risk: label security',
      findings: [{ rule: 'highRisk', result: 'fail', message: 'label security' }],
      policy: {
        hash: 'sha256:test',
        document: { approvals: { required: a.required ?? 1, eligible: { logins: [], teams: [], roles: [], ...a.eligible }, onExpiry: a.onExpiry ?? 'block', ...(a.expiresAfterH ? { expiresAfterH: a.expiresAfterH } : {}) } } as never,
      },
    });
  });
  return { ideaId, taskId, approvalId, repository, issue };
}

/** POST /v1/approvals/{id}/votes as `actor` (X-Facteur-Actor). */
export async function vote(sys: System, approvalId: string, actor: string, decision: 'approve' | 'reject', reason?: string) {
  return readAnswer(await fetch(`${sys.urls.status}/v1/approvals/${approvalId}/votes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-facteur-actor': actor },
    body: JSON.stringify({ decision, ...(reason ? { reason } : {}) }),
  }));
}

export async function stateOf(sys: System, ids: { ideaId: string; taskId: string; approvalId: string }) {
  const [row] = await sys.db.sql<{ idea: string; idea_reason: string | null; task: string; task_reason: string | null; approval: string }[]>`
    select i.status as idea, i.status_reason as idea_reason, t.state as task, t.state_reason as task_reason, a.status as approval
      from codex_kb.ideas i join codex_kb.tasks t on t.id = ${ids.taskId} join codex_kb.approvals a on a.id = ${ids.approvalId}
     where i.id = ${ids.ideaId}`;
  return row!;
}
