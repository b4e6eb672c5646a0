// The knowledge base checks itself (a KbStep of the KB's pass, at most once per
// FACTEUR_KB_ANOMALY_INTERVAL_MINUTES): it plants synthetic cases whose answer it knows and
// runs its detectors on them —
//   kb.anomaly.near_duplicate  two lessons saying the same thing (cosine distance under
//                              NEAR_DUPLICATE_DISTANCE) are found as a pair; an unrelated one is not
//   kb.anomaly.contradiction   two live lessons on overlapping paths with opposite outcomes are
//                              found; the same lessons on other paths are not
//   kb.anomaly.wrong_version   a vector of another embedding version never answers a query of
//                              the active version (version isolation), while the active one does
// — and records each result in policy_checks (pass: the planted anomaly was detected, and
// nothing else; fail: what was missed or wrongly flagged), which /metrics and the KB page read.
//
// The cases are `source = 'synthetic'` in a reserved repository (SYNTHETIC_REPOSITORY) and
// live only inside the check's transaction: they are deleted before it commits and, if the
// process dies first, rolled back with it, so no retrieval (another transaction) ever sees them.
// One advisory lock and the last check's time make two instances' passes run it once.
import { randomUUID } from 'node:crypto';
import { transaction, type Tx } from '../db/index.js';
import { messageOf } from '../errors/index.js';
import type { KbDeps, KbStep } from './deps.js';
import { vectorLiteral } from './embed/types.js';
import { ANOMALY_CHECKS, SYNTHETIC_REPOSITORY } from './health.js';
import { nearest } from './search.js';
import { activeVersion, type ActiveVersion } from './versions.js';

export { ANOMALY_CHECKS };
export type AnomalyCheck = (typeof ANOMALY_CHECKS)[number];
/** Below this cosine distance two lessons of one repository say the same thing. */
export const NEAR_DUPLICATE_DISTANCE = 0.08;
/** The version the wrong-version case is planted under (registered and removed inside the check). */
const STRAY_VERSION = 'facteur-kb-anomaly-stray';

export interface AnomalyResult {
  readonly check: AnomalyCheck;
  readonly result: 'pass' | 'fail' | 'info';
  readonly message: string;
  readonly details: Record<string, unknown>;
}

type Pair = readonly [string, string];
const pairKey = (p: Pair) => [...p].sort().join('|');

/** Live lessons of one repository whose vectors (of `v`) are nearer than the threshold, as id pairs. */
export async function nearDuplicates(tx: Tx, v: Pick<ActiveVersion, 'version' | 'dimensions'>, repository: string, maxDistance = NEAR_DUPLICATE_DISTANCE): Promise<Pair[]> {
  const n = v.dimensions;
  const rows = await tx.unsafe<{ a: string; b: string }[]>(
    `select a.reflection_id::text as a, b.reflection_id::text as b
       from codex_kb.reflection_embeddings a join codex_kb.reflections ra on ra.id = a.reflection_id,
            codex_kb.reflection_embeddings b join codex_kb.reflections rb on rb.id = b.reflection_id
      where a.version = $1 and b.version = $1 and ra.repository = $2 and rb.repository = $2
        and ra.superseded_by is null and rb.superseded_by is null and a.reflection_id < b.reflection_id
        and (a.embedding::vector(${Number(n)}) <=> b.embedding::vector(${Number(n)})) < $3`,
    [v.version, repository, maxDistance] as never[],
  );
  return rows.map((r) => [r.a, r.b] as const);
}

/** Live lessons of one repository on overlapping paths whose outcomes disagree, as id pairs. */
export async function contradictions(tx: Tx, repository: string): Promise<Pair[]> {
  const rows = await tx<{ a: string; b: string }[]>`
    select a.id::text as a, b.id::text as b
      from codex_kb.reflections a join codex_kb.reflections b
        on b.repository = a.repository and a.id < b.id and a.paths && b.paths
       and a.outcome is not null and b.outcome is not null and a.outcome <> b.outcome
       and coalesce(a.stage, '') = coalesce(b.stage, '')
     where a.repository = ${repository} and a.superseded_by is null and b.superseded_by is null`;
  return rows.map((r) => [r.a, r.b] as const);
}

/** Unit vector along one axis, nudged: near-duplicates are two slightly different ones. */
function axis(dimensions: number, i: number, nudge = 0): number[] {
  const v = new Array<number>(dimensions).fill(0);
  v[i % dimensions] = 1;
  v[(i + 1) % dimensions] = nudge;
  const norm = Math.hypot(1, nudge);
  return v.map((x) => x / norm);
}

async function plant(tx: Tx, o: { content: string; paths?: string[]; outcome?: string; vector?: number[]; version?: string }): Promise<string> {
  const id = randomUUID();
  await tx`
    insert into codex_kb.reflections (id, reflection_type, content, repository, stage, outcome, paths, source)
    values (${id}, 'synthetic', ${o.content}, ${SYNTHETIC_REPOSITORY}, 'implementation', ${o.outcome ?? null}, ${o.paths ?? []}::text[], 'synthetic')`;
  if (o.vector && o.version) {
    await tx`insert into codex_kb.reflection_embeddings (reflection_id, version, embedding) values (${id}, ${o.version}, ${vectorLiteral(o.vector)}::vector)`;
  }
  return id;
}

/** What a detector found against what was planted. */
function judgeFound(check: AnomalyCheck, planted: Pair[], found: Pair[], what: string): AnomalyResult {
  const want = new Set(planted.map(pairKey));
  const got = new Set(found.map(pairKey));
  const missed = [...want].filter((k) => !got.has(k));
  const wrong = [...got].filter((k) => !want.has(k));
  const ok = missed.length === 0 && wrong.length === 0;
  return {
    check, result: ok ? 'pass' : 'fail',
    message: ok ? `the planted ${what} was detected, nothing else` : `${missed.length} planted ${what} missed, ${wrong.length} wrongly flagged`,
    details: { planted: planted.length, detected: found.length, missed: missed.length, falsePositives: wrong.length },
  };
}

/** Plants the cases, runs the detectors, removes the cases: all inside `tx`. */
export async function runAnomalyChecks(tx: Tx, v: ActiveVersion): Promise<AnomalyResult[]> {
  const d = v.dimensions;
  const out: AnomalyResult[] = [];
  // near-duplicates: two almost the same direction, one elsewhere
  const a = await plant(tx, { content: 'Run npm ci before the tests in packages/api.', vector: axis(d, 0, 0.05), version: v.version });
  const b = await plant(tx, { content: 'Run npm ci before the tests in packages/api!', vector: axis(d, 0, 0.1), version: v.version });
  await plant(tx, { content: 'The deploy needs the staging kubeconfig.', vector: axis(d, 7), version: v.version });
  out.push(judgeFound('kb.anomaly.near_duplicate', [[a, b]], await nearDuplicates(tx, v, SYNTHETIC_REPOSITORY), 'near-duplicate pair'));
  // contradictions: opposite outcomes on the same paths; the same outcomes apart on other paths
  const c1 = await plant(tx, { content: 'Use pnpm in web/: the build passed.', paths: ['web/package.json'], outcome: 'succeeded' });
  const c2 = await plant(tx, { content: 'Do not use pnpm in web/: the build failed.', paths: ['web/package.json', 'web/pnpm-lock.yaml'], outcome: 'failed' });
  await plant(tx, { content: 'The docs build failed on a dead link.', paths: ['docs/index.md'], outcome: 'failed' });
  out.push(judgeFound('kb.anomaly.contradiction', [[c1, c2]], await contradictions(tx, SYNTHETIC_REPOSITORY), 'contradiction'));
  // wrong version: the same vector under another version must never answer the active version's query
  await tx`insert into codex_kb.embedding_versions (version, provider, model, dimensions) values (${STRAY_VERSION}, 'local', 'anomaly-check', ${d}) on conflict (version) do nothing`;
  const probe = axis(d, 13);
  const stray = await plant(tx, { content: 'A lesson embedded by another model.', vector: probe, version: STRAY_VERSION });
  const right = await plant(tx, { content: 'A lesson embedded by the active model.', vector: axis(d, 13, 0.2), version: v.version });
  const found = (await nearest(tx, { version: v.version, dimensions: d, vector: probe, repository: SYNTHETIC_REPOSITORY, k: 10, includeSuperseded: true })).map((x) => x.id);
  const leaked = found.includes(stray);
  const served = found.includes(right);
  out.push({
    check: 'kb.anomaly.wrong_version', result: !leaked && served ? 'pass' : 'fail',
    message: leaked ? `a vector of ${STRAY_VERSION} answered a query of ${v.version}` : served ? `only ${v.version} vectors answered its query` : `the active version's own planted vector was not found`,
    details: { version: v.version, leaked, served },
  });
  // clean: nothing planted survives the transaction
  await tx`delete from codex_kb.reflections where source = 'synthetic' and repository = ${SYNTHETIC_REPOSITORY}`;
  await tx`delete from codex_kb.embedding_versions where version = ${STRAY_VERSION}`;
  return out;
}

export async function recordChecks(tx: Tx, results: readonly AnomalyResult[]): Promise<void> {
  for (const r of results) {
    await tx`insert into codex_kb.policy_checks (check_key, result, message, details) values (${r.check}, ${r.result}, ${r.message}, ${tx.json(r.details as never)})`;
  }
}

/** The pass's step: the checks when due (none in the last interval), once across instances. */
export const anomalyStep: KbStep = async (deps: KbDeps) => {
  const intervalS = deps.config.kbCockpit.anomalyIntervalS;
  const now = deps.now?.() ?? new Date();
  try {
    return await transaction(deps.sql, ['kb:anomaly'], async (tx) => {
      const [last] = await tx<{ at: Date }[]>`
        select created_at as at from codex_kb.policy_checks where check_key = ${ANOMALY_CHECKS[0]} order by created_at desc limit 1`;
      if (last && now.getTime() - last.at.getTime() < intervalS * 1000) return 0;
      const v = await activeVersion(tx);
      if (!v) return 0;
      const results = await runAnomalyChecks(tx, v);
      await recordChecks(tx, results);
      const failed = results.filter((r) => r.result === 'fail');
      if (failed.length) deps.log.warn('kb self-check failed', { checks: failed.map((f) => `${f.check}: ${f.message}`) });
      return results.length;
    });
  } catch (err) {
    // a check that cannot run is recorded, never thrown into the pass (the other steps go on)
    deps.log.warn('kb self-check could not run', { error: messageOf(err) });
    return 0;
  }
};
