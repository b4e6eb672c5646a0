// 0 events lost: every outbox event was published and reached the facteur.events consumer
// (and was accepted by dispatch), and every fact record the harness produced (Argo's
// workflow completions) was accepted by intake.
import { TOPICS } from '../ideas.js';
import { result, type Invariant } from './index.js';

export const eventsLost: Invariant = {
  name: 'events_lost',
  description: 'every outbox event was published, consumed and accepted; every fact record was accepted',
  async check(h, db) {
    const problems: string[] = [];
    const rows = await db<{ event_id: string; type: string; sent: boolean; leased: boolean; attempts: number; last_error: string | null }[]>`
      select event_id, type, sent_at is not null as sent, available_at > now() as leased, attempts, last_error from codex_kb.outbox order by id`;
    let leased = 0;
    for (const r of rows) {
      // leased by a relay that was killed, or backing off after a failed publish: kept, and
      // published when it is due (the tick relays every second) — late, not lost
      if (!r.sent && r.leased) leased++;
      else if (!r.sent) problems.push(`outbox ${r.event_id} (${r.type}) never published (attempts ${r.attempts}, last error ${r.last_error ?? 'none'})`);
      else if (!h.events.has(r.event_id)) problems.push(`outbox ${r.event_id} (${r.type}) marked sent but never consumed from ${TOPICS.events}`);
      else if (h.events.get(r.event_id)!.delivered === 0) problems.push(`event ${r.event_id} (${r.type}) consumed but never accepted by dispatch`);
    }
    for (const rec of h.records.values()) {
      if (rec.topic !== TOPICS.completions) continue;
      if (!rec.answers.some((a) => a.status >= 200 && a.status < 300)) problems.push(`completion record ${rec.key} (${rec.recordId}) never accepted: ${rec.answers.map((a) => a.status).join(',') || 'no answer'}`);
    }
    for (const [id, p] of h.produced) {
      if (p.topic === TOPICS.completions && ![...h.records.values()].some((r) => r.recordId === id)) problems.push(`completion record ${id} produced but never consumed`);
    }
    return result('events_lost', problems, `${rows.length} outbox events, ${h.events.size} consumed${leased ? `, ${leased} not yet due (leased by a killed relay, or backing off)` : ''}`);
  },
};
