// 0 duplicate effects, however often things were redelivered, retried or duplicated:
// - one successful Workflow create per name at the fake API (AlreadyExists is fine);
// - one task per (idea, key), the implementation tasks exactly the plan's, one
//   integration and one deploy task per idea, one more review per round of changes;
// - one run per (task, attempt) and per workflow name; one artifact per (run, kind);
// - one idea per Idea Spec id, per CodexTask issue, per Kafka record of a spec without id;
//   every copy of a delivery answered with the same idea;
// - one outbox event per effect (registration per delivery, task.finished per run), and
//   after consumer dedupe one event per event id, with one content;
// - a callback sent twice with the same seq answered once (202) and then the same (200).
import type { Sql } from '../../../shared/db/index.js';
import type { History } from '../history.js';
import { tagOf } from '../ideas.js';
import { acceptedIdeas } from './ideas-lost.js';
import { result, type Invariant } from './index.js';

/** Every Kubernetes API request about one Workflow, in order, with times relative to the first. */
function kubeStory(h: History, name: string): string {
  const about = h.kubeRequests.filter((r) => r.path.endsWith(`/${name}`) || (r.method === 'POST' && (r.body as { metadata?: { name?: string } } | null)?.metadata?.name === name));
  const t0 = about[0]?.time ?? 0;
  const step = h.steps.get(name);
  return about.map((r) => `${r.method}${r.injected !== undefined ? ` (injected ${String(r.injected)})` : ''} +${r.time - t0}ms`).join(', ') +
    (step ? `; last step double: attempt ${step.attempt}, ${step.outcome}, faults ${step.faults.join(',') || 'none'}` : '');
}

async function grouped(what: string, query: Promise<{ k: string; n: number }[]>, into: string[]): Promise<void> {
  for (const r of await query) into.push(`${what} ${r.k}: ${r.n} rows`);
}

export const duplicateEffects: Invariant = {
  name: 'duplicate_effects',
  description: 'every effect happened once, whatever was redelivered, retried or duplicated',
  async check(h: History, db: Sql) {
    const p: string[] = [];
    // Workflows
    for (const [name, n] of h.creates) if (n > 1) p.push(`workflow ${name} was created ${n} times at the Kubernetes API: ${kubeStory(h, name)}`);
    // rows that must be unique
    await grouped('task', db`select idea_id || '/' || key as k, count(*)::int as n from codex_kb.tasks group by idea_id, key having count(*) > 1`, p);
    await grouped('run', db`select task_id || '#' || attempt as k, count(*)::int as n from codex_kb.task_runs group by task_id, attempt having count(*) > 1`, p);
    await grouped('workflow name', db`select external_run_id as k, count(*)::int as n from codex_kb.task_runs where external_run_id is not null group by 1 having count(*) > 1`, p);
    await grouped('artifact', db`select run_id || '/' || artifact_type as k, count(*)::int as n from codex_kb.artifacts where artifact_type <> 'reflection' group by run_id, artifact_type having count(*) > 1`, p);
    await grouped('registration event', db`select data->>'deliveryKey' as k, count(*)::int as n from codex_kb.outbox where type in ('facteur.idea.registered', 'facteur.task.attached') group by 1 having count(*) > 1`, p);
    await grouped('task.finished event of run', db`select data->>'runId' as k, count(*)::int as n from codex_kb.outbox where type = 'facteur.task.finished' group by 1 having count(*) > 1`, p);
    // tasks against the plan, per harness idea
    const ideas = await db<{ id: string; title: string; impl: string[] | null; reviews: number; integrations: number; deploys: number }[]>`
      select i.id, i.title,
             array_agg(t.key order by t.key) filter (where t.stage = 'implementation') as impl,
             count(*) filter (where t.stage = 'review')::int as reviews,
             count(*) filter (where t.stage = 'integration')::int as integrations,
             count(*) filter (where t.stage = 'deploy')::int as deploys
        from codex_kb.ideas i join codex_kb.tasks t on t.idea_id = i.id group by i.id`;
    const perTag = new Map<string, string[]>();
    for (const i of ideas) {
      const tag = tagOf(i.title);
      const intent = tag ? h.ideas.get(tag) : undefined;
      if (!tag || !intent) continue;
      perTag.set(tag, [...(perTag.get(tag) ?? []), i.id]);
      const want = [...intent.plan.keys].sort();
      if (i.impl && JSON.stringify(i.impl) !== JSON.stringify(want)) p.push(`${tag} (idea ${i.id}): implementation tasks ${i.impl.join(',')}, the plan has ${want.join(',')}`);
      if (i.integrations > 1) p.push(`${tag} (idea ${i.id}): ${i.integrations} integration tasks`);
      if (i.deploys > 1) p.push(`${tag} (idea ${i.id}): ${i.deploys} deploy tasks`);
      if (i.reviews > (intent.reviewChanges ? 2 : 1)) p.push(`${tag} (idea ${i.id}): ${i.reviews} review tasks`);
    }
    // ideas per Idea Spec id / issue / record
    const recordsPerTag = new Map<string, number>();
    for (const rec of h.records.values()) {
      if (rec.tag && rec.answers.some((a) => a.status >= 200 && a.status < 300)) recordsPerTag.set(rec.tag, (recordsPerTag.get(rec.tag) ?? 0) + 1);
    }
    for (const [tag, ids] of perTag) {
      const intent = h.ideas.get(tag)!;
      const allowed = intent.kind === 'spec-noid' ? (recordsPerTag.get(tag) ?? 1) : 1;
      if (ids.length > allowed) p.push(`${tag} (${intent.kind}${intent.specId ? ` ${intent.specId}` : ''}): ${ids.length} ideas (${ids.join(', ')}), expected ${allowed}`);
    }
    // every copy of a delivery answered with the same idea
    const byTag = new Map<string, Set<string>>();
    for (const [id, tag] of acceptedIdeas(h)) byTag.set(tag, (byTag.get(tag) ?? new Set()).add(id));
    for (const rec of h.records.values()) {
      const ids = new Set(rec.answers.filter((a) => a.status < 300).map((a) => (a.body as { ideaId?: string } | null)?.ideaId).filter(Boolean));
      if (ids.size > 1) p.push(`record ${rec.key} (${rec.tag}): its copies were answered with ideas ${[...ids].join(', ')}`);
    }
    for (const [tag, ids] of byTag) {
      const intent = h.ideas.get(tag);
      if (intent && intent.kind !== 'spec-noid' && ids.size > 1) p.push(`${tag}: its deliveries were answered with ${ids.size} different ideas`);
    }
    // outbox, after consumer dedupe
    const outbox = new Set((await db<{ event_id: string }[]>`select event_id from codex_kb.outbox`).map((r) => r.event_id));
    for (const ev of h.events.values()) {
      if (ev.contents.size > 1) p.push(`event ${ev.ceId} (${ev.type}) was consumed with ${ev.contents.size} different contents`);
      if (!outbox.has(ev.ceId)) p.push(`event ${ev.ceId} (${ev.type}) was consumed but is not in the outbox`);
    }
    // callbacks sent twice
    p.push(...h.callbackMismatches);
    const redelivered = [...h.records.values()].reduce((s, r) => s + r.copies, 0);
    const dupEvents = [...h.events.values()].filter((e) => e.count > 1).length;
    return result('duplicate_effects', p, `${h.creates.size} workflows, ${redelivered} deliveries of ${h.records.size} records, ${h.events.size} events (${dupEvents} consumed more than once)`);
  },
};
