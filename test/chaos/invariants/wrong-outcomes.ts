// Ideas that ended the wrong way round: made to fail but completed anyway (a failing task,
// an invalid plan, a budget its life cannot fit, a rejected approval), or completed with a
// task that did not succeed or a run still active.
import { acceptedIdeas } from './ideas-lost.js';
import { result, type Invariant } from './index.js';

export const wrongOutcomes: Invariant = {
  name: 'wrong_outcomes',
  description: 'an idea made to fail never completes; a completed idea has every task succeeded and no active run',
  async check(h, db) {
    const problems: string[] = [];
    const accepted = acceptedIdeas(h);
    const rows = await db<{ id: string; status: string; unfinished: string[] | null; active: number }[]>`
      select i.id, i.status,
             (select array_agg(t.key || ':' || t.state) from codex_kb.tasks t where t.idea_id = i.id and t.state <> 'succeeded') as unfinished,
             (select count(*)::int from codex_kb.task_runs r where r.idea_id = i.id and r.status in ('submitting', 'running')) as active
        from codex_kb.ideas i where i.id = any(${[...accepted.keys()]}::uuid[]) and i.status = 'completed'`;
    for (const r of rows) {
      const tag = accepted.get(r.id)!;
      const doom = h.ideas.get(tag)?.doom;
      if (doom) problems.push(`${tag} (idea ${r.id}) completed although it was made to fail (${doom.kind}${doom.kind === 'fail-task' ? ` ${doom.task}` : ''})`);
      const gov = h.ideas.get(tag)?.gov;
      if (gov && gov.kind !== 'risky') problems.push(`${tag} (idea ${r.id}) completed within a $${gov.maxCostUsd} budget its life cannot fit (${gov.kind})`);
      if (gov?.kind === 'risky' && gov.reject) problems.push(`${tag} (idea ${r.id}) completed although its approval was rejected`);
      if (r.unfinished?.length) problems.push(`${tag} (idea ${r.id}) completed with tasks ${r.unfinished.join(' ')}`);
      if (r.active > 0) problems.push(`${tag} (idea ${r.id}) completed with ${r.active} active run(s)`);
    }
    return result('wrong_outcomes', problems, `${rows.length} completed ideas checked`);
  },
};
