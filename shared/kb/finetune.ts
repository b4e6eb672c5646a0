// The daily fine-tune trigger (issue 10, item 5): once per UTC day, when at least
// FACTEUR_KB_FINETUNE_MIN_PAIRS preference pairs were made since the last trigger,
// `facteur.kb.finetune.requested` goes out through the outbox with where the new pairs can be
// fetched (the JSONL export with `since=`).
//
// Exactly once a day whatever the number of dispatch instances and ticks: the day's row in
// kb_finetune_triggers and the outbox row are written in ONE transaction, and the day is the
// row's primary key — a second instance's insert waits for the first to commit, then finds
// the day taken and writes nothing. A tick that loses never raises; it simply did nothing.
import type { KbDeps } from './deps.js';

export const FINETUNE_EVENT = 'facteur.kb.finetune.requested';
const SOURCE = '/facteur/dispatch';

export interface FinetuneRequest {
  readonly day: string;
  readonly pairs: number;
  readonly since: string | null;
  readonly dataset: string;
  readonly eventId: string;
}

/** The UTC day of an instant, as `YYYY-MM-DD`. */
export const utcDay = (d: Date): string => d.toISOString().slice(0, 10);

/** Fires today's trigger when it is due; undefined when it already fired today or too few pairs are new. */
export async function requestFinetune(deps: Pick<KbDeps, 'sql' | 'log' | 'config' | 'now'>): Promise<FinetuneRequest | undefined> {
  const now = deps.now?.() ?? new Date();
  const day = utcDay(now);
  const { finetuneMinPairs, exportBaseUrl } = deps.config.kbLearn;
  const result = await deps.sql.begin(async (tx) => {
    // cheap answer for the many ticks of a day that already fired
    const [done] = await tx`select 1 from codex_kb.kb_finetune_triggers where day = ${day}::date`;
    if (done) return undefined;
    const [last] = await tx<{ at: string | null }[]>`
      select to_char(max(created_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at from codex_kb.kb_finetune_triggers`;
    const since = last?.at ?? null;
    const [count] = await tx<{ n: number }[]>`
      select count(*)::int as n from codex_kb.preference_pairs
       where (${since}::text::timestamptz is null or created_at > ${since}::text::timestamptz) and created_at <= ${now}`;
    const pairs = count?.n ?? 0;
    if (pairs < finetuneMinPairs) return undefined;
    const dataset = `${exportBaseUrl}/v1/kb/preference-pairs${since ? `?since=${encodeURIComponent(since)}` : ''}`;
    const [row] = await tx<{ event_id: string }[]>`
      insert into codex_kb.kb_finetune_triggers (day, pairs, since, dataset, event_id, created_at)
      values (${day}::date, ${pairs}, ${since}::text::timestamptz, ${dataset}, gen_random_uuid(), ${now})
      on conflict (day) do nothing
      returning event_id`;
    if (!row) return undefined;
    const request: FinetuneRequest = { day, pairs, since, dataset, eventId: row.event_id };
    await tx`
      insert into codex_kb.outbox (event_id, type, source, subject, topic, key, data)
      values (${row.event_id}, ${FINETUNE_EVENT}, ${SOURCE}, ${day}, ${deps.config.topics.events}, ${`kb.finetune:${day}`},
              ${tx.json({ day, pairs, since, dataset, format: 'jsonl', fields: ['context', 'rejected', 'chosen', 'reasons'] } as never)})`;
    return request;
  });
  if (result) deps.log.info('kb: fine-tune requested', { day: result.day, pairs: result.pairs });
  return result;
}

/** The pass's step (local mode's tick, and dispatch's daily PingSource): 1 when it fired. */
export async function finetuneStep(deps: Pick<KbDeps, 'sql' | 'log' | 'config' | 'now'>): Promise<number> {
  return (await requestFinetune(deps)) ? 1 : 0;
}
