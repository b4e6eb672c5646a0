// The ideas page (Oban Web and pg-boss's dashboard are the models): counts by state, the
// filters in the URL, the non-terminal ideas by default, keyset pages, and for operators a
// bulk pause/resume/cancel of everything the filter matches, behind a confirmation step.
import type { Queryable } from '../db/index.js';
import { hasRole } from '../auth/principal.js';
import { IDEA_STATUSES, TERMINAL_IDEA_STATUSES } from '../lifecycle/states.js';
import { encodeCursor, filterQuery, whereOf, type IdeaFilter, type ListParams } from './filters.js';
import { badge, csrfField, h, time, type Html, type Viewer } from './html.js';

export interface IdeaRow {
  readonly id: string;
  readonly title: string;
  readonly status: string;
  readonly repository: string;
  readonly labels: readonly string[];
  readonly priority: string;
  readonly updated_at: Date;
  readonly created_text: string;
}

export interface IdeasView {
  readonly items: readonly IdeaRow[];
  readonly counts: Readonly<Record<string, number>>;
  /** The finished states with more than COUNT_CAP ideas: their count is shown as "1000+". */
  readonly capped: readonly string[];
  readonly nextCursor: string | null;
}

/**
 * A finished state is counted up to this many ideas, then shown as "1000+": counting every
 * completed idea made the page's cost grow with history (15× slower at 100 000 finished
 * ideas than at 100, `npm run bench -- scale`). The states work is still in are counted exactly.
 */
export const COUNT_CAP = 1000;

export async function loadIdeas(sql: Queryable, p: ListParams): Promise<IdeasView> {
  const [rows, counts] = await Promise.all([
    sql<IdeaRow[]>`
      select id, title, status, repository, labels, priority, updated_at,
             to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as created_text
        from codex_kb.ideas
       where ${whereOf(sql, p)}
         and (${p.cursor?.createdAt ?? null}::timestamptz is null
              or (created_at, id) < (${p.cursor?.createdAt ?? null}::timestamptz, ${p.cursor?.id ?? null}::uuid))
       order by created_at desc, id desc
       limit ${p.limit + 1}`,
    // The states work is in, exactly, from a partial index of those ideas only (migrations/0023:
    // its predicate is spelled out, so even a generic plan matches it); each finished state up
    // to COUNT_CAP + 1, newest first along ideas_status_idx.
    sql<{ status: string; n: number }[]>`${[
      sql`select status, count(*)::int as n from codex_kb.ideas
           where status not in ('completed', 'cancelled', 'failed') and ${whereOf(sql, p, false)} group by status`,
      ...TERMINAL_IDEA_STATUSES.map((state) => sql`
        select ${state}::text, count(*)::int from (select 1 from codex_kb.ideas where status = ${state} and ${whereOf(sql, p, false)}
                                                     order by created_at desc, id desc limit ${COUNT_CAP + 1}) x`),
    ].reduce((all, part) => sql`${all} union all ${part}`)}`,
  ]);
  const capped = counts.filter((c) => c.n > COUNT_CAP).map((c) => c.status);
  const page = rows.slice(0, p.limit);
  const last = page[page.length - 1];
  return {
    items: page,
    counts: Object.fromEntries(counts.filter((c) => c.n > 0).map((c) => [c.status, Math.min(c.n, COUNT_CAP)])),
    capped,
    nextCursor: rows.length > p.limit && last ? encodeCursor(last.created_text, last.id) : null,
  };
}

export function renderIdeas(p: ListParams, v: IdeasView, viewer: Viewer): Html {
  const total = Object.values(v.counts).reduce((a, b) => a + b, 0);
  const count = (s: string) => v.counts[s] ?? 0;
  const chip = (state: IdeaFilter['state'], label: Html | string, n: number, more = false) =>
    h`<a href="ideas${filterQuery({ ...p, state })}"${p.state === state ? h` aria-current="true"` : ''}>${label} <b>${n}${more ? '+' : ''}</b></a>`;
  const active = IDEA_STATUSES.filter((s) => !TERMINAL_IDEA_STATUSES.includes(s)).reduce((a, s) => a + count(s), 0);
  const operator = hasRole(viewer.roles, 'operator');
  return h`<h1>Ideas</h1>
<div class="counts">${chip('active', 'active', active)}${chip('all', 'all', total, v.capped.length > 0)}${IDEA_STATUSES.filter((s) => count(s) > 0).map((s) => chip(s, badge(s), count(s), v.capped.includes(s)))}</div>
<form class="filters" method="get" action="ideas">
  <label>state<select name="state">${['active', 'all', ...IDEA_STATUSES].map((s) => h`<option${s === p.state ? h` selected` : ''}>${s}</option>`)}</select></label>
  <label>repository<input name="repository" value="${p.repository ?? ''}" placeholder="owner/name" list="repositories"></label>
  <label>label<input name="label" value="${p.label ?? ''}"></label>
  <label>text<input name="q" value="${p.text ?? ''}" placeholder="title, source or id"></label>
  <button type="submit">Filter</button> <a href="ideas">reset</a>
</form>
${operator && total > 0 ? bulkForm(p, viewer) : ''}
<table class="ideas"><thead><tr><th>idea</th><th>state</th><th>repository</th><th>labels</th><th>priority</th><th>updated</th></tr></thead><tbody>
${v.items.map((i) => h`<tr data-id="${i.id}"><td><a href="idea?id=${i.id}">${i.title}</a></td><td>${badge(i.status)}</td><td>${i.repository}</td><td>${i.labels.join(', ')}</td><td>${i.priority}</td><td>${time(i.updated_at.toISOString())}</td></tr>`)}
</tbody></table>
${v.items.length === 0 ? h`<p class="muted">No idea matches this filter.${p.state === 'active' ? h` Only non-terminal ideas are shown: <a href="ideas${filterQuery({ ...p, state: 'all' })}">show all</a>.` : ''}</p>` : ''}
<p class="pager">${p.cursor ? h`<a href="ideas${filterQuery(p)}">« first page</a> ` : ''}${v.nextCursor ? h`<a rel="next" href="ideas${filterQuery(p, { cursor: v.nextCursor, ...(p.limit !== 50 ? { limit: String(p.limit) } : {}) })}">next page »</a>` : ''}</p>`;
}

function hiddenFilter(f: IdeaFilter): Html {
  return h`<input type="hidden" name="state" value="${f.state}">${f.repository ? h`<input type="hidden" name="repository" value="${f.repository}">` : ''}${f.label ? h`<input type="hidden" name="label" value="${f.label}">` : ''}${f.text ? h`<input type="hidden" name="q" value="${f.text}">` : ''}`;
}

function bulkForm(f: IdeaFilter, viewer: Viewer): Html {
  return h`<form class="actions bulk" method="post" action="bulk">${csrfField(viewer)}${hiddenFilter(f)}
  <span class="muted">Every idea matching this filter:</span>
  <button name="action" value="pause">Pause…</button><button name="action" value="resume">Resume…</button><button name="action" value="cancel" class="danger">Cancel…</button>
</form>`;
}

/** The confirmation step: what would be done to how many ideas, with the first few named. */
export function renderBulkConfirm(f: IdeaFilter, action: string, matched: number, sample: readonly IdeaRow[], asOf: string, viewer: Viewer): Html {
  return h`<h1>${action[0]!.toUpperCase() + action.slice(1)} ${matched} idea${matched === 1 ? '' : 's'}?</h1>
<p>This will <b>${action}</b> every idea matching <code>${filterQuery(f) || '(non-terminal ideas)'}</code> created up to ${time(asOf)}: ${matched} now. Ideas that cannot be ${action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : 'cancelled'} (already in that state, or finished) are skipped. Each change is recorded in the audit log as yours (${viewer.actor}).</p>
<ul>${sample.map((i) => h`<li>${i.title} ${badge(i.status)}</li>`)}${matched > sample.length ? h`<li class="muted">… and ${matched - sample.length} more</li>` : ''}</ul>
<form method="post" action="bulk" class="actions">${csrfField(viewer)}${hiddenFilter(f)}<input type="hidden" name="action" value="${action}"><input type="hidden" name="asOf" value="${asOf}"><input type="hidden" name="confirm" value="yes">
<button class="${action === 'cancel' ? 'danger' : 'primary'}">Yes, ${action} ${matched}</button> <a href="ideas${filterQuery(f)}">No, go back</a></form>`;
}

export function renderBulkDone(f: IdeaFilter, action: string, r: { done: number; skipped: number; failed: number; capped: boolean }): Html {
  return h`<h1>Bulk ${action}: done</h1>
<p class="notice">${r.done} idea(s) ${action === 'pause' ? 'paused' : action === 'resume' ? 'resumed' : 'cancelled'}; ${r.skipped} skipped (not in a state that allows it)${r.failed ? h`; ${r.failed} failed (see the log)` : ''}.${r.capped ? ' The action stopped at its limit: run it again for the rest.' : ''}</p>
<p><a href="ideas${filterQuery(f)}">Back to the ideas</a></p>`;
}
