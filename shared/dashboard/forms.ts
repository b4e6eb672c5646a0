// What the dashboard's POSTs carry and how each is checked: an HTML form
// (application/x-www-form-urlencoded, UTF-8), its CSRF token, and the actions it asks for —
// one idea's operator action, a vote, or a bulk action over a filter. Every problem is
// listed in one 400; the actions go through the same code as the JSON API (shared/operator).
import { appendAudit } from '../audit/index.js';
import { ConflictError, NonRetriableError, ValidationError, messageOf, type Issue } from '../errors/index.js';
import type { HttpRequest } from '../http/index.js';
import { operate, type OperatorDeps } from '../operator/index.js';
import { isUuid } from '../validation/index.js';
import { filterQuery, parseFilter, whereOf, type IdeaFilter } from './filters.js';

export const BULK_ACTIONS = ['pause', 'resume', 'cancel'] as const;
export type BulkAction = (typeof BULK_ACTIONS)[number];
/** One bulk request acts on at most this many ideas (it answers in one request). */
export const BULK_MAX = 5000;

export function formOf(req: HttpRequest): URLSearchParams {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new NonRetriableError('unsupported_media_type', 'the dashboard takes HTML forms: application/x-www-form-urlencoded');
  }
  if (req.bodyTruncated) throw new NonRetriableError('payload_too_large', 'the form is too large');
  return new URLSearchParams(req.body.toString('utf8'));
}

/** Reads the named fields, each once; `_csrf` is always allowed (checked elsewhere). */
export function fields<K extends string>(form: URLSearchParams, allowed: readonly K[], extra: readonly string[] = []): { get: (k: K) => string | undefined; issues: Issue[] } {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  for (const key of form.keys()) {
    if (seen.has(key) && key !== '_csrf') issues.push({ path: key.slice(0, 60), message: 'given more than once' });
    seen.add(key);
    if (key !== '_csrf' && !(allowed as readonly string[]).includes(key) && !extra.includes(key)) issues.push({ path: key.replace(/[^\x20-\x7e]/g, '?').slice(0, 60), message: 'unknown field' });
  }
  return { get: (k) => form.get(k) ?? undefined, issues };
}

export function uuidField(issues: Issue[], name: string, v: string | undefined): string {
  if (v === undefined) issues.push({ path: name, message: 'is required' });
  else if (!isUuid(v)) issues.push({ path: name, message: 'must be a UUID' });
  return v ?? '';
}

export function oneOf<T extends string>(issues: Issue[], name: string, v: string | undefined, options: readonly T[]): T {
  if (v === undefined || !(options as readonly string[]).includes(v)) issues.push({ path: name, message: `must be one of ${options.join(', ')}` });
  return v as T;
}

export function done(issues: Issue[]): void {
  if (issues.length) throw new ValidationError('invalid form', issues, 'invalid_form');
}

export interface BulkRequest {
  readonly filter: IdeaFilter;
  readonly action: BulkAction;
  readonly confirm: boolean;
  /** The confirmation's instant: ideas created after it are not touched. */
  readonly asOf: string | undefined;
}

export function parseBulk(form: URLSearchParams): BulkRequest {
  const filterPart = new URLSearchParams();
  const f = fields(form, ['action', 'confirm', 'asOf'], ['state', 'repository', 'label', 'q']);
  for (const k of ['state', 'repository', 'label', 'q']) {
    const v = form.get(k);
    if (v !== null) filterPart.set(k, v);
  }
  const filter = parseFilter(filterPart, [], f.issues);
  const action = oneOf(f.issues, 'action', f.get('action'), BULK_ACTIONS);
  const confirm = f.get('confirm') === 'yes';
  const asOf = f.get('asOf');
  if (confirm && (asOf === undefined || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/.test(asOf) || Number.isNaN(Date.parse(asOf)))) {
    f.issues.push({ path: 'asOf', message: 'the confirmation\'s instant (ISO 8601, as the confirmation page sent it) is required' });
  }
  done(f.issues);
  return { filter, action, confirm, asOf };
}

export interface BulkResult {
  readonly done: number;
  readonly skipped: number;
  readonly failed: number;
  readonly capped: boolean;
}

/**
 * Acts on every idea the filter matches that existed at the confirmation, each through
 * operate() (its own transaction, lock and audit entry, as from the API); an idea that cannot
 * take the action now (already paused, finished meanwhile) is skipped. The bulk request itself
 * gets one audit entry with its filter and counts.
 */
export async function runBulk(deps: OperatorDeps, b: BulkRequest, actor: string): Promise<BulkResult> {
  let done = 0;
  let skipped = 0;
  let failed = 0;
  let after: { created_at: Date; id: string } | undefined;
  let seen = 0;
  for (;;) {
    const page = await deps.sql<{ id: string; created_at: Date }[]>`
      select id, created_at from codex_kb.ideas
       where ${whereOf(deps.sql, b.filter)} and created_at <= ${b.asOf ?? new Date().toISOString()}::timestamptz
         and (${after?.created_at ?? null}::timestamptz is null or (created_at, id) < (${after?.created_at ?? null}::timestamptz, ${after?.id ?? null}::uuid))
       order by created_at desc, id desc limit 200`;
    for (const row of page) {
      if (seen++ >= BULK_MAX) break;
      try {
        await operate(deps, row.id, b.action, actor, `bulk ${b.action} from the dashboard`);
        done++;
      } catch (err) {
        if (err instanceof ConflictError) skipped++;
        else {
          failed++;
          deps.log.warn('dashboard: bulk action failed for an idea', { idea: row.id, action: b.action, error: messageOf(err) });
        }
      }
    }
    after = page[page.length - 1];
    if (page.length < 200 || seen >= BULK_MAX) break;
  }
  const capped = seen > BULK_MAX;
  await appendAudit(deps.sql, {
    actor, action: `dashboard.bulk_${b.action}`, subjectType: 'ideas', subjectId: filterQuery(b.filter) || '?state=active',
    details: { filter: b.filter, asOf: b.asOf, done, skipped, failed, capped },
  });
  return { done, skipped, failed, capped };
}
