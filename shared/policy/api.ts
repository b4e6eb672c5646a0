// The policy API (seed 004 §4.6.4, adapted): packs stored, listed and activated, each
// repository's selection and its effective policy, and the findings of an idea, task or run.
// Served by the status function (the people's API) and the policy function, from this one
// table; reads need viewer, changes admin. Every change is attributed in the audit log to the
// verified caller (the store appends the entries).
import { z } from 'zod';
import type { Sql } from '../db/index.js';
import { NonRetriableError, NotFoundError, ValidationError } from '../errors/index.js';
import { json } from '../http/index.js';
import { route, type Route, type RouteContext } from '../http/router.js';
import { checkJsonValue, decodeUtf8, parseJsonWith, repositoryProblem, requireUtf8Charset, zodIssues } from '../validation/index.js';
import { invalidYaml } from '../validation/yaml.js';
import { listFindings, parseFindingsQuery, type FindingScope } from './listing.js';
import { PACK_CAP_BYTES, parsePack } from './pack.js';
import { activatePack, effectivePolicyFor, getRepositoryPolicy, listPacks, packVersions, putPack, putRepositoryPolicy } from './store.js';

export interface PolicyApiDeps {
  readonly sql: Sql;
}

type Ctx = RouteContext<PolicyApiDeps>;

const KEY = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;
const YAML_TYPES = ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml'];

function keyParam(raw: string): string {
  if (!KEY.test(raw)) throw new ValidationError('invalid path', [{ path: 'path.key', message: 'must be a pack key: lowercase letters, digits and dashes (at most 63)' }], 'invalid_path');
  return raw;
}

function versionParam(raw: string): number {
  const n = Number(raw);
  if (!/^[0-9]{1,7}$/.test(raw) || n < 1 || n > 1_000_000) throw new ValidationError('invalid path', [{ path: 'path.version', message: 'must be a whole number from 1 to 1000000' }], 'invalid_path');
  return n;
}

function repositoryParam(owner: string, repo: string): string {
  const name = `${owner}/${repo}`;
  const problem = repositoryProblem(name);
  if (problem) throw new ValidationError('invalid path', [{ path: 'path.repository', message: problem }], 'invalid_path');
  return name;
}

const sourceBody = z.strictObject({ source: z.string() });

/**
 * A pack's YAML from the body: the YAML itself (`application/yaml`, `text/yaml`) or JSON
 * `{"source": "…"}`. A body past the server's limit is a pack past its cap, said as the
 * parser says it (a 400 with the problem), not a bare 413.
 */
function packSourceOf(req: Ctx['req']): string {
  const contentType = req.headers['content-type'] ?? '';
  const type = contentType.split(';')[0]!.trim().toLowerCase();
  if (req.bodyTruncated || (req.bodySize ?? req.body.length) > PACK_CAP_BYTES) {
    throw invalidYaml('the policy pack', 'invalid_policy_pack', [{ path: '', message: `is larger than ${PACK_CAP_BYTES} bytes` }]);
  }
  if (YAML_TYPES.includes(type)) {
    requireUtf8Charset(contentType);
    return decodeUtf8(req.body, 'the policy pack');
  }
  if (type === 'application/json') return parseJsonWith(req.body, sourceBody, 'policy pack request').source;
  throw new NonRetriableError('unsupported_media_type', `send the pack as application/yaml (or text/yaml), or as application/json {"source": "…yaml…"}; not ${JSON.stringify(type.slice(0, 100))}`);
}

/** Parses first: a YAML escape (`"\0"`, `"\ud800"`) can make text PostgreSQL's jsonb refuses. */
function checkedPack(source: string): void {
  const pack = parsePack(source);
  const { issues } = checkJsonValue(pack);
  if (issues.length) throw new ValidationError('the policy pack is invalid', issues, 'invalid_policy_pack');
}

const repositoryBody = z.strictObject({
  pack: z.strictObject({
    key: z.string().regex(KEY, 'must be a pack key: lowercase letters, digits and dashes'),
    version: z.number().int().min(1).max(1_000_000).nullable().default(null),
  }),
  overrides: z.record(z.string(), z.unknown()).default({}),
  repoLocal: z.boolean().default(false),
});

async function putRepository({ deps, req, params, principal }: Ctx) {
  const repository = repositoryParam(params.owner!, params.repo!);
  const body = parseJsonWith(req.body, repositoryBody, 'repository policy');
  try {
    return json(200, await putRepositoryPolicy(deps.sql, repository, body, principal.actor));
  } catch (err) {
    // the body named a pack that cannot be selected, or overrides that break it: the caller's to fix
    if (err instanceof NotFoundError) throw new ValidationError('invalid repository policy', [{ path: 'pack', message: err.message }], 'unknown_policy_pack');
    if (err instanceof z.ZodError) throw new ValidationError('the overrides do not make a valid pack', zodIssues(err, 'overrides'), 'invalid_repository_policy');
    throw err;
  }
}

const findings = (scope: FindingScope) => async ({ deps, req, params }: Ctx) =>
  json(200, await listFindings(deps.sql, scope, params.id!, parseFindingsQuery(req.query)));

export const POLICY_API_ROUTES: readonly Route<PolicyApiDeps>[] = Object.freeze([
  route('GET', '/v1/policy-packs', 'viewer', 'policy packs, every version (newest first per key), without documents', async ({ deps }: Ctx) =>
    json(200, { items: await listPacks(deps.sql) })),
  route('POST', '/v1/policy-packs', 'admin', 'store a pack: its YAML (application/yaml) or {"source":"…"}; 201 stored, 200 already stored, 409 a version rewritten', async ({ deps, req, principal }: Ctx) => {
    const source = packSourceOf(req);
    checkedPack(source);
    const stored = await putPack(deps.sql, source, 'api', principal.actor);
    return json(stored.created ? 201 : 200, { ...stored, document: parsePack(source) });
  }),
  route('GET', '/v1/policy-packs/{key}', 'viewer', "one pack's versions, newest first, with documents and sources", async ({ deps, params }: Ctx) =>
    json(200, { key: keyParam(params.key!), versions: await packVersions(deps.sql, keyParam(params.key!)) })),
  route('POST', '/v1/policy-packs/{key}/{version}/activate', 'admin', "make key@version the key's active version (the previous one is retired)", async ({ deps, params, principal }: Ctx) =>
    json(200, await activatePack(deps.sql, keyParam(params.key!), versionParam(params.version!), principal.actor))),
  route('GET', '/v1/repositories/{owner}/{repo}/policy', 'viewer', "a repository's selection: {pack: {key, version|null}, overrides, repoLocal}", async ({ deps, params }: Ctx) =>
    json(200, await getRepositoryPolicy(deps.sql, repositoryParam(params.owner!, params.repo!)))),
  route('PUT', '/v1/repositories/{owner}/{repo}/policy', 'admin', 'set it: {"pack":{"key","version"|null},"overrides":{…},"repoLocal":bool}', putRepository),
  route('GET', '/v1/repositories/{owner}/{repo}/policy/effective', 'viewer', 'the effective policy now: merged document, hash, merge chain', async ({ deps, params }: Ctx) => {
    const eff = await effectivePolicyFor(deps.sql, repositoryParam(params.owner!, params.repo!));
    return json(200, { repository: eff.repositoryPolicy.repository, hash: eff.hash, document: eff.document, chain: eff.chain, selection: eff.repositoryPolicy });
  }),
  route('GET', '/v1/ideas/{id}/findings', 'viewer', "an idea's findings, newest evaluation first, with a summary; ?all=true adds evaluate-mode ones", findings('idea')),
  route('GET', '/v1/tasks/{id}/findings', 'viewer', "a task's findings (as for ideas)", findings('task')),
  route('GET', '/v1/runs/{id}/findings', 'viewer', "a run's findings (as for ideas)", findings('run')),
]);
