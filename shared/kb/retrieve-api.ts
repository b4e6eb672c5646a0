// What a run was given and why, and the ranking runs get, on the status API (spread into
// shared/status/routes.ts; viewer, like a run's own page): GET /v1/kb/search and
// GET /v1/runs/{id}/context. The query is validated at the door — every problem named in
// one 400 — and is only ever a parameter further in (shared/kb/candidates.ts).
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NotFoundError, ValidationError, type Issue } from '../errors/index.js';
import { json } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import type { Logger } from '../log/index.js';
import { badText, isUuid, repositoryProblem } from '../validation/index.js';
import { searchLessons } from './candidates.js';
import { configuredEmbedder, createLocalEmbedder } from './embed/index.js';
import type { Embedder } from './embed/types.js';

export interface KbRetrieveApiDeps {
  readonly sql: Sql;
  readonly log: Logger;
  /**
   * The status API's config: the whole Config at run time, typed by each route table for what
   * it reads (shared/status/routes.ts picks none of ours), so kbRetrieve is read where present.
   */
  readonly config: object;
  /** The configured embedder; the embedded default when unset. */
  readonly embedder?: Embedder;
}

/** The configured embedder when the config carries one (the status function's does), else the embedded default. */
const embedderOf = (config: object): Embedder =>
  'kbStore' in config ? configuredEmbedder(config as Pick<Config, 'kbStore'>) : (fallback ??= createLocalEmbedder());
let fallback: Embedder | undefined;

export const SEARCH_QUERY_MAX = 1000;
export const SEARCH_LIMIT_MAX = 50;
const DEFAULTS: Config['kbRetrieve'] = { enabled: true, topN: 5, candidates: 20, embedTimeoutMs: 300, queryTimeoutMs: 2000 };

export interface SearchQuery {
  readonly q: string;
  readonly repository?: string;
  readonly limit: number;
}

export function parseSearchQuery(query: URLSearchParams): SearchQuery {
  const issues: Issue[] = [];
  const qs = query.getAll('q');
  const q = qs[0] ?? '';
  if (qs.length !== 1) issues.push({ path: 'q', message: qs.length === 0 ? 'is required: the text to search lessons for' : 'must be given once' });
  else if (q.trim().length === 0) issues.push({ path: 'q', message: 'must not be empty' });
  if (q.length > SEARCH_QUERY_MAX) issues.push({ path: 'q', message: `must be at most ${SEARCH_QUERY_MAX} characters (it has ${q.length})` });
  const bad = badText(q);
  if (bad) issues.push({ path: 'q', message: bad });
  if (/[\u0001-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(q)) issues.push({ path: 'q', message: 'control characters other than tab and newlines are not accepted' });
  const repository = query.get('repository');
  if (repository !== null) {
    const problem = repositoryProblem(repository);
    if (problem) issues.push({ path: 'repository', message: problem });
  }
  const limitText = query.get('limit');
  let limit = 10;
  if (limitText !== null) {
    const n = Number(limitText);
    if (/^\d{1,3}$/.test(limitText) && n >= 1 && n <= SEARCH_LIMIT_MAX) limit = n;
    else issues.push({ path: 'limit', message: `must be an integer from 1 to ${SEARCH_LIMIT_MAX}` });
  }
  for (const key of new Set(query.keys())) {
    if (!['q', 'repository', 'limit'].includes(key)) issues.push({ path: key.slice(0, 100), message: 'unknown query parameter' });
  }
  if (issues.length) throw new ValidationError('invalid search', issues);
  return { q, ...(repository !== null ? { repository: repository.toLowerCase() } : {}), limit };
}

const round = (x: number | null) => (x === null ? null : Math.round(x * 1e6) / 1e6);

/** The same ranking a run gets, with every score, the best first. */
export async function searchKb(deps: KbRetrieveApiDeps, q: SearchQuery) {
  const configured = (deps.config as Partial<Pick<Config, 'kbRetrieve'>>).kbRetrieve ?? DEFAULTS;
  const config = { ...configured, candidates: Math.max(q.limit, configured.candidates) };
  const result = await searchLessons({ sql: deps.sql, config: { kbRetrieve: config }, embedder: deps.embedder ?? embedderOf(deps.config) },
    { query: q.q, ...(q.repository !== undefined ? { repository: q.repository } : {}) });
  return {
    query: q.q,
    repository: q.repository ?? null,
    embeddingVersion: result.version,
    degraded: result.degraded,
    latencyMs: result.latencyMs,
    items: result.candidates.slice(0, q.limit).map((c) => ({
      id: c.id,
      stage: c.stage,
      outcome: c.outcome,
      paths: c.paths,
      excerpt: c.content.slice(0, 500),
      vectorDistance: round(c.vectorDistance),
      vectorRank: c.vectorRank,
      textScore: round(c.textScore),
      textRank: c.textRank,
      usefulness: round(c.usefulness),
      fused: round(c.fused),
      duplicateOf: c.duplicateOf,
    })),
  };
}

/** A run's retrieval decision: the context it was given, every candidate with its scores. */
export async function runContext(sql: Sql, runId: string) {
  if (!isUuid(runId)) throw new ValidationError('invalid run id', [{ path: 'id', message: 'must be a UUID' }]);
  const [row] = await sql<{ run_id: string; stage: string; embedding_version: string | null; query: string; degraded: string | null;
    candidates: unknown; injected: string[]; context: string; context_bytes: number; latency_ms: number | null; created_at: Date; scored_at: Date | null; outcome: string | null }[]>`
    select run_id::text, stage, embedding_version, query, degraded, candidates, injected::text[] as injected, context, context_bytes,
           latency_ms::float8 as latency_ms, created_at, scored_at, outcome
      from codex_kb.kb_retrievals where run_id = ${runId}`;
  if (!row) {
    const [run] = await sql`select 1 from codex_kb.task_runs where id = ${runId}`;
    if (!run) throw new NotFoundError(`no run ${runId}`);
    throw new NotFoundError(`run ${runId} has no retrieval decision (its stage is given no lessons, or it was not dispatched yet)`);
  }
  return {
    runId: row.run_id,
    stage: row.stage,
    embeddingVersion: row.embedding_version,
    degraded: row.degraded,
    query: row.query,
    context: row.context,
    contextBytes: row.context_bytes,
    injected: row.injected,
    candidates: row.candidates,
    latencyMs: row.latency_ms,
    decidedAt: row.created_at.toISOString(),
    scoredAt: row.scored_at?.toISOString() ?? null,
    outcome: row.outcome,
  };
}

type Ctx = RouteContext<KbRetrieveApiDeps>;

export const KB_RETRIEVE_ROUTES: readonly Route<KbRetrieveApiDeps>[] = Object.freeze([
  route('GET', '/v1/kb/search', 'viewer', 'lessons ranked as a run would get them (vector and full text fused, usefulness-weighted), with every score; ?q=&repository=&limit=',
    async ({ deps, req }: Ctx) => json(200, await searchKb(deps, parseSearchQuery(req.query)))),
  route('GET', '/v1/runs/{id}/context', 'viewer', 'the retrieval decision of one run: the retrievedContext it was given, every candidate with its scores, the embedding version, degraded or not',
    async ({ deps, params }: Ctx) => json(200, await runContext(deps.sql, params.id!))),
]);
