// Policy packs in PostgreSQL: stored once per key@version (never rewritten), activated
// (the latest active version of a key is what "latest" means), selected per repository with
// its overrides, and resolved into effective policies kept once per hash.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { appendAudit } from '../audit/index.js';
import type { Queryable, Sql } from '../db/index.js';
import { transaction } from '../db/index.js';
import { ConflictError, NotFoundError, ValidationError } from '../errors/index.js';
import { DEFAULT_PACK_SOURCE } from './default-pack.js';
import { hashOf, resolveEffective, type EffectivePolicy } from './effective.js';
import { canonicalJson } from '../intent/index.js';
import { overridesSchema, packSchema, parsePack, repoLocalSchema, type PolicyOverrides, type PolicyPack, type RepoLocalPolicy } from './pack.js';
import { zodIssues } from '../validation/index.js';
import { deepFreeze } from '../validation/freeze.js';

export type PackStatus = 'draft' | 'active' | 'retired';
export type PackOrigin = 'seed' | 'directory' | 'api';

export interface StoredPack {
  readonly key: string;
  readonly version: number;
  readonly status: PackStatus;
  readonly description: string;
  readonly hash: string;
  readonly origin: PackOrigin;
  readonly createdBy: string;
  readonly createdAt: string;
  readonly activatedAt: string | null;
}

export interface PutResult extends StoredPack {
  /** false: this exact document was stored already (a re-load of the same file). */
  readonly created: boolean;
}

interface PackRow {
  key: string; version: number; status: PackStatus; description: string; hash: string; origin: PackOrigin;
  created_by: string; created_at: Date; activated_at: Date | null; document?: unknown; source?: string;
}

const stored = (r: PackRow): StoredPack => ({
  key: r.key, version: r.version, status: r.status, description: r.description, hash: r.hash, origin: r.origin,
  createdBy: r.created_by, createdAt: r.created_at.toISOString(), activatedAt: r.activated_at?.toISOString() ?? null,
});

/** The lock every change of a key's versions takes: activation and storing serialize per key. */
const packLock = (key: string) => `policy-pack:${key}`;

/**
 * Stores a pack from its YAML (every problem listed, nothing stored on any). The same
 * key@version again with the same content is a no-op; with other content it is a 409.
 */
export async function putPack(sql: Sql, source: string, origin: PackOrigin, actor: string): Promise<PutResult> {
  const pack = parsePack(source);
  const hash = hashOf(pack);
  return transaction(sql, [packLock(pack.key)], async (tx) => {
    const [existing] = await tx<PackRow[]>`select * from codex_kb.policy_packs where key = ${pack.key} and version = ${pack.version}`;
    if (existing) {
      if (existing.hash !== hash) {
        throw new ConflictError('policy_pack_exists', `${pack.key}@${pack.version} is stored with other content (a version is never rewritten): store it as version ${await nextVersion(tx, pack.key)}`);
      }
      return { ...stored(existing), created: false };
    }
    const [row] = await tx<PackRow[]>`
      insert into codex_kb.policy_packs (key, version, description, document, source, hash, origin, created_by)
      values (${pack.key}, ${pack.version}, ${pack.description}, ${tx.json(pack as never)}, ${source}, ${hash}, ${origin}, ${actor})
      returning *`;
    await appendAudit(tx, { actor, action: 'policy.pack_stored', subjectType: 'policy_pack', subjectId: `${pack.key}@${pack.version}`, details: { hash, origin } });
    return { ...stored(row!), created: true };
  });
}

async function nextVersion(tx: Queryable, key: string): Promise<number> {
  const [r] = await tx<{ v: number }[]>`select coalesce(max(version), 0) + 1 as v from codex_kb.policy_packs where key = ${key}`;
  return r!.v;
}

/** Makes key@version the active one of its key; the previously active versions are retired. */
export async function activatePack(sql: Sql, key: string, version: number, actor: string): Promise<StoredPack> {
  return transaction(sql, [packLock(key)], async (tx) => {
    const [row] = await tx<PackRow[]>`select * from codex_kb.policy_packs where key = ${key} and version = ${version}`;
    if (!row) throw new NotFoundError(`no policy pack ${key}@${version}`);
    if (row.status === 'active') return stored(row);
    await tx`update codex_kb.policy_packs set status = 'retired' where key = ${key} and status = 'active'`;
    const [now] = await tx<PackRow[]>`
      update codex_kb.policy_packs set status = 'active', activated_at = now() where key = ${key} and version = ${version} returning *`;
    await appendAudit(tx, { actor, action: 'policy.pack_activated', subjectType: 'policy_pack', subjectId: `${key}@${version}`, details: { hash: row.hash, from: row.status } });
    return stored(now!);
  });
}

export async function listPacks(sql: Queryable): Promise<StoredPack[]> {
  const rows = await sql<PackRow[]>`
    select key, version, status, description, hash, origin, created_by, created_at, activated_at
      from codex_kb.policy_packs order by key, version desc`;
  return rows.map(stored);
}

export async function packVersions(sql: Queryable, key: string): Promise<(StoredPack & { document: PolicyPack; source: string })[]> {
  const rows = await sql<PackRow[]>`select * from codex_kb.policy_packs where key = ${key} order by version desc`;
  if (rows.length === 0) throw new NotFoundError(`no policy pack ${key}`);
  return rows.map((r) => ({ ...stored(r), document: packSchema.parse(r.document), source: r.source! }));
}

/** key@version, or the latest active version of key; a draft is never selected. */
async function packRow(sql: Queryable, key: string, version: number | null): Promise<{ document: unknown; hash: string } | undefined> {
  const [row] = version === null
    ? await sql<{ document: unknown; hash: string }[]>`select document, hash from codex_kb.policy_packs where key = ${key} and status = 'active' order by version desc limit 1`
    : await sql<{ document: unknown; hash: string }[]>`select document, hash from codex_kb.policy_packs where key = ${key} and version = ${version} and status <> 'draft'`;
  return row;
}

const missingPack = (key: string, version: number | null) =>
  new NotFoundError(version === null ? `no active version of policy pack ${key}` : `no usable policy pack ${key}@${version} (a draft is never selected)`);

const packOf = (row: { document: unknown; hash: string }) => ({ pack: parsedPack(row.hash, () => packSchema.parse(row.document)), hash: row.hash });

export async function loadPack(sql: Queryable, key: string, version: number | null): Promise<{ pack: PolicyPack; hash: string }> {
  const row = await packRow(sql, key, version);
  if (!row) throw missingPack(key, version);
  return packOf(row);
}

/**
 * At start: the seeded `default@1`, then every `*.yaml`/`*.yml` of `dir` (a mounted
 * ConfigMap), each key's highest version there activated. Idempotent: the same files again
 * change nothing. A file that is not a valid pack stops the start with its problems listed.
 */
export async function loadPolicyPacks(sql: Sql, dir: string | undefined): Promise<StoredPack[]> {
  const out: StoredPack[] = [];
  const seeded = await putPack(sql, DEFAULT_PACK_SOURCE, 'seed', 'facteur');
  const [anyActive] = await sql`select 1 from codex_kb.policy_packs where key = 'default' and status = 'active' limit 1`;
  out.push(anyActive ? seeded : await activatePack(sql, 'default', seeded.version, 'facteur'));
  if (!dir) return out;
  const files = (await readdir(dir, { withFileTypes: true }))
    // a mounted ConfigMap's entries are symlinks (`..data/…`); its dot-entries are not packs
    .filter((e) => !e.name.startsWith('.') && /\.ya?ml$/.test(e.name))
    .map((e) => e.name)
    .sort();
  const highest = new Map<string, number>();
  for (const name of files) {
    let r: PutResult;
    try {
      r = await putPack(sql, await readFile(join(dir, name), 'utf8'), 'directory', `policy-dir:${name}`);
    } catch (err) {
      if (err instanceof ValidationError || err instanceof ConflictError) throw new ValidationError(`${join(dir, name)}: ${err.message}`, err instanceof ValidationError ? err.issues : [{ path: name, message: err.message }], err.code);
      throw err;
    }
    out.push(r);
    highest.set(r.key, Math.max(highest.get(r.key) ?? 0, r.version));
  }
  for (const [key, version] of highest) out.push(await activatePack(sql, key, version, 'policy-dir'));
  return out;
}

export interface RepositoryPolicy {
  readonly repository: string;
  readonly pack: { readonly key: string; readonly version: number | null };
  readonly overrides: PolicyOverrides;
  readonly repoLocal: boolean;
  readonly updatedBy: string | null;
  readonly updatedAt: string | null;
}

interface RepositoryPolicyRow { pack_key: string; pack_version: number | null; overrides: PolicyOverrides; repo_local: boolean; updated_by: string; updated_at: Date }

/** A repository with no policy of its own (no row) uses the latest active `default`. */
function repositoryPolicyOf(repo: string, row: RepositoryPolicyRow | undefined): RepositoryPolicy {
  if (!row) return { repository: repo, pack: { key: 'default', version: null }, overrides: {}, repoLocal: false, updatedBy: null, updatedAt: null };
  return { repository: repo, pack: { key: row.pack_key, version: row.pack_version }, overrides: row.overrides, repoLocal: row.repo_local, updatedBy: row.updated_by, updatedAt: row.updated_at.toISOString() };
}

export async function getRepositoryPolicy(sql: Queryable, repository: string): Promise<RepositoryPolicy> {
  const repo = repository.toLowerCase();
  const [row] = await sql<RepositoryPolicyRow[]>`
    select pack_key, pack_version, overrides, repo_local, updated_by, updated_at from codex_kb.repository_policies where repository = ${repo}`;
  return repositoryPolicyOf(repo, row);
}

export interface RepositoryPolicyInput {
  readonly pack: { readonly key: string; readonly version: number | null };
  readonly overrides: unknown;
  readonly repoLocal: boolean;
}

/** Sets a repository's selection; the pack must be selectable and the overrides valid over it. */
export async function putRepositoryPolicy(sql: Sql, repository: string, input: RepositoryPolicyInput, actor: string): Promise<RepositoryPolicy> {
  const parsed = overridesSchema.safeParse(input.overrides);
  if (!parsed.success) throw new ValidationError('invalid repository policy', zodIssues(parsed.error, 'overrides'));
  const repo = repository.toLowerCase();
  return transaction(sql, [`repository-policy:${repo}`], async (tx) => {
    const { pack, hash } = await loadPack(tx, input.pack.key, input.pack.version);
    resolveEffective({ pack, packHash: hash, repository: { name: repo, overrides: parsed.data as PolicyOverrides } }); // throws when the merge is not a valid pack
    await tx`
      insert into codex_kb.repository_policies (repository, pack_key, pack_version, overrides, repo_local, updated_by)
      values (${repo}, ${input.pack.key}, ${input.pack.version}, ${tx.json(parsed.data as never)}, ${input.repoLocal}, ${actor})
      on conflict (repository) do update set pack_key = excluded.pack_key, pack_version = excluded.pack_version,
        overrides = excluded.overrides, repo_local = excluded.repo_local, updated_by = excluded.updated_by, updated_at = now()`;
    await appendAudit(tx, { actor, action: 'policy.repository_set', subjectType: 'repository', subjectId: repo, details: { pack: `${input.pack.key}@${input.pack.version ?? 'latest'}`, overridesHash: hashOf(parsed.data), repoLocal: input.repoLocal } });
    return getRepositoryPolicy(tx, repo);
  });
}

// Caches on the evaluation path (every completion evaluates its run's checkpoint: `npm run
// bench -- dispatch` profiled the YAML parse of the default pack and the per-call resolution
// at a tenth of the callbacks process's time). All of them are keyed by content: a pack's
// hash is the sha256 of its document (a stored version is never rewritten), the effective
// policy a pure function of its inputs — so a cached entry is never stale, only bounded.
const CACHE_LIMIT = 1000;
const packsByHash = new Map<string, PolicyPack>();
const effectiveByInput = new Map<string, EffectivePolicy>();
let defaultPack: { pack: PolicyPack; hash: string } | undefined;


function remember<K, V>(cache: Map<K, V>, key: K, value: V): V {
  if (cache.size >= CACHE_LIMIT) cache.clear();
  cache.set(key, deepFreeze(value));
  return value;
}

function parsedPack(hash: string, parse: () => PolicyPack): PolicyPack {
  return packsByHash.get(hash) ?? remember(packsByHash, hash, parse());
}

function builtinDefault(): { pack: PolicyPack; hash: string } {
  if (!defaultPack) {
    const pack = deepFreeze(parsePack(DEFAULT_PACK_SOURCE));
    defaultPack = { pack, hash: hashOf(pack) };
  }
  return defaultPack;
}

type PackChoice = { pack: PolicyPack; hash: string } | NotFoundError;

/** The selected pack from its row (or none): the pack, or why there is none. */
function packFrom(rp: RepositoryPolicy, row: { document: unknown; hash: string } | undefined): PackChoice {
  if (row) return packOf(row);
  // an instance started before the policy function seeded the default (or without one)
  if (rp.pack.key === 'default' && rp.pack.version === null) return builtinDefault();
  return missingPack(rp.pack.key, rp.pack.version);
}

/**
 * The effective policy of a repository now (with the repo-local file when the repository
 * policy honours it and one was reported), kept in effective_policies once per hash.
 */
export async function effectivePolicyFor(sql: Queryable, repository: string, repoLocal?: RepoLocalPolicy): Promise<EffectivePolicy & { repositoryPolicy: RepositoryPolicy }> {
  const rp = await getRepositoryPolicy(sql, repository);
  return effectiveOf(sql, rp, packFrom(rp, await packRow(sql, rp.pack.key, rp.pack.version)), repoLocal);
}

/**
 * The effective policies this process resolved last: a hint, not a cache. The read that
 * resolves an idea's policy asks the database which of them are stored (`stored`), so the
 * usual case, a policy already stored, costs no second round trip; an answer from another
 * database, or about an insert that rolled back, is the database's own.
 */
const recentHashes: string[] = [];
const RECENT_LIMIT = 16;

function noteHash(hash: string): void {
  const at = recentHashes.indexOf(hash);
  if (at === 0) return;
  if (at > 0) recentHashes.splice(at, 1);
  recentHashes.unshift(hash);
  recentHashes.length = Math.min(recentHashes.length, RECENT_LIMIT);
}

async function effectiveOf(sql: Queryable, rp: RepositoryPolicy, chosen: PackChoice, repoLocal: RepoLocalPolicy | undefined, stored: readonly string[] = []): Promise<EffectivePolicy & { repositoryPolicy: RepositoryPolicy }> {
  if (chosen instanceof NotFoundError) throw chosen;
  const { pack, hash } = chosen;
  const local = rp.repoLocal && repoLocal ? repoLocal : undefined;
  const inputKey = canonicalJson([hash, rp.repository, rp.overrides, local ?? null]);
  const eff = effectiveByInput.get(inputKey)
    ?? remember(effectiveByInput, inputKey, resolveEffective({ pack, packHash: hash, repository: { name: rp.repository, overrides: rp.overrides }, ...(local ? { repoLocal: local } : {}) }));
  noteHash(eff.hash);
  // Stored once per hash, and read before it is written: an insert of a hash another
  // transaction is inserting waits for that one to commit (every completion of a repository
  // queued behind the previous one's transaction), and sends the whole document each time.
  // Whether it is stored is asked of the database, never remembered in the process: an
  // insert may roll back, and a process may talk to more than one database (the tests do).
  if (stored.includes(eff.hash)) return { ...eff, repositoryPolicy: rp };
  const [seen] = await sql`select 1 from codex_kb.effective_policies where hash = ${eff.hash}`;
  if (!seen) {
    await sql`
      insert into codex_kb.effective_policies (hash, document, chain) values (${eff.hash}, ${sql.json(eff.document as never)}, ${sql.json(eff.chain as never)})
      on conflict (hash) do nothing`;
  }
  return { ...eff, repositoryPolicy: rp };
}

/**
 * The policy in force for an idea now: its repository's, with the repo-local file its
 * planning run reported (the latest valid `policy` artifact) when the repository honours it.
 * Every checkpoint resolves it afresh, so a pack activated or a freeze added applies at once;
 * the hash recorded with each decision says which policy made it. The idea, its repository's
 * selection, the selected pack and whether the effective policy is stored already (asked of
 * the ones this process resolved last) are one read (a completion resolves this twice).
 */
export async function policyForIdea(sql: Queryable, ideaId: string): Promise<EffectivePolicy & { repositoryPolicy: RepositoryPolicy }> {
  const [row] = await sql<(Partial<RepositoryPolicyRow> & { repository: string; local: { document?: unknown } | null; document: unknown; hash: string | null; stored: string[] })[]>`
    select i.repository,
           array(select e.hash from codex_kb.effective_policies e where e.hash = any(${[...recentHashes]}::text[])) as stored,
           (select a.data from codex_kb.artifacts a where a.idea_id = i.id and a.artifact_type = 'policy'
             order by a.created_at desc limit 1) as local,
           rp.pack_key, rp.pack_version, rp.overrides, rp.repo_local, rp.updated_by, rp.updated_at, p.document, p.hash
      from codex_kb.ideas i
      left join codex_kb.repository_policies rp on rp.repository = lower(i.repository)
      left join lateral (
        -- packRow's choice: key@version unless a draft, or the latest active version
        select document, hash from codex_kb.policy_packs
         where key = coalesce(rp.pack_key, 'default')
           and case when rp.pack_version is null then status = 'active' else version = rp.pack_version and status <> 'draft' end
         order by version desc limit 1) p on true
     where i.id = ${ideaId}`;
  if (!row) throw new NotFoundError(`no idea ${ideaId}`);
  const rp = repositoryPolicyOf(row.repository.toLowerCase(), row.pack_key == null ? undefined : (row as RepositoryPolicyRow));
  const local = row.local?.document === undefined ? undefined : repoLocalSchema.safeParse(row.local.document);
  return effectiveOf(sql, rp, packFrom(rp, row.hash === null ? undefined : { document: row.document, hash: row.hash }), local?.success ? (local.data as RepoLocalPolicy) : undefined, row.stored);
}
