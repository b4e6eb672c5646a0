// Notifications exactly once and none lost, on what the FAKE GitHub saw and the ledger holds:
// - at most one status comment was created per issue (the hidden marker finds one left by a
//   crash; a second create would be a second comment on someone's issue);
// - every idea that came from an issue and ended has its comment, marked with its id, and the
//   comment was edited to say how it ended;
// - nothing is left pending or failed in the delivery ledger once the load drained.
import { acceptedIdeas } from './ideas-lost.js';
import { result, type Invariant } from './index.js';

const ENDED = ['completed', 'blocked', 'failed', 'cancelled'];

export const notificationsOnce: Invariant = {
  name: 'notifications_once',
  description: 'one status comment per issue, every ended idea from an issue told so, nothing left in the ledger',
  async check(h, db) {
    const remotes = h.remotes;
    if (!remotes) return result('notifications_once', [], 'notifiers off');
    const problems: string[] = [];
    const creates = new Map<string, number>();
    for (const s of remotes.seen) {
      const m = /^\/github\/repos\/([^/]+\/[^/]+)\/issues\/(\d+)\/comments$/.exec(s.path);
      if (m && s.method === 'POST' && s.status < 300) creates.set(`${m[1]}#${m[2]}`, (creates.get(`${m[1]}#${m[2]}`) ?? 0) + 1);
    }
    for (const [issue, n] of creates) {
      if (n <= 1) continue;
      // what each comment is for: the same idea's marker twice is a race, two markers two ideas
      const markers = [...remotes.comments.values()].filter((c) => c.issue === issue)
        .map((c) => `${c.id}: ${/<!-- facteur:[a-z]+:[^ ]+ -->/.exec(c.body)?.[0] ?? 'no marker'}`);
      problems.push(`${issue}: ${n} status comments created (${markers.join('; ')})`);
    }
    const accepted = acceptedIdeas(h);
    const ideas = await db<{ id: string; status: string; repository: string; issue_number: string }[]>`
      select id, status, repository, issue_number::text from codex_kb.ideas
       where id = any(${[...accepted.keys()]}::uuid[]) and issue_number is not null and status = any(${ENDED})`;
    const comments = [...remotes.comments.values()];
    for (const i of ideas) {
      const c = comments.find((x) => x.body.includes(`<!-- facteur:idea:${i.id} -->`));
      if (!c) problems.push(`${accepted.get(i.id)} (idea ${i.id}, ${i.repository}#${i.issue_number}) ended ${i.status} and has no status comment`);
      else if (!c.body.toLowerCase().includes(i.status)) problems.push(`${accepted.get(i.id)} (idea ${i.id}): its comment does not say it ended ${i.status}`);
    }
    const left = await db<{ notifier: string; state: string; n: number; error: string | null }[]>`
      select notifier, state, count(*)::int as n, max(last_error) as error from codex_kb.notify_deliveries
       where state <> 'sent' group by notifier, state`;
    for (const l of left) problems.push(`${l.n} ${l.notifier} deliveries left ${l.state}${l.error ? ` (last error: ${l.error.slice(0, 160)})` : ''}`);
    const edits = comments.reduce((a, c) => a + c.edits, 0);
    return result('notifications_once', problems,
      `${ideas.length} ended ideas from issues checked; ${comments.length} comments (${edits} edits), ${remotes.statuses.length} commit statuses, ${remotes.messages.length} Discord messages`);
  },
};
