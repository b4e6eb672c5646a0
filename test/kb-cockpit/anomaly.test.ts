// The KB's self-checks on synthetic cases over real PostgreSQL + pgvector: every planted
// anomaly detected and recorded in policy_checks, nothing planted left behind, at most once
// per interval even when four instances' passes race on their own connections, and a detector
// that flags more than was planted is recorded as a failure.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { anomalyStep, ANOMALY_CHECKS } from '../../shared/kb/anomaly.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { vectorLiteral } from '../../shared/kb/embed/types.js';
import { SYNTHETIC_REPOSITORY } from '../../shared/kb/health.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';

const config = loadConfig({ FACTEUR_KB_ANOMALY_INTERVAL_MINUTES: '60' });
const embedder = createLocalEmbedder();
let db: TestDb;
let pools: Sql[];
const deps = (sql: Sql, now?: Date) => ({ sql, log: silentLogger, config, embedder, ...(now ? { now: () => now } : {}) });
const checks = () => db.sql<{ check_key: string; result: string; details: any }[]>`select check_key, result, details from codex_kb.policy_checks where check_key like 'kb.anomaly.%' order by id`;

beforeAll(async () => {
  db = await createTestDb();
  pools = [db.sql, extraPool(db), extraPool(db), extraPool(db)];
  await ensureVersion(db.sql, embedder);
});
afterAll(async () => {
  await Promise.all(pools.slice(1).map((p) => p.end()));
});

describe('anomaly checks', () => {
  it('with no active version there is nothing to check', async () => {
    const empty = await createTestDb();
    expect(await anomalyStep(deps(empty.sql))).toBe(0);
  });

  it('detects each planted anomaly, records it, and leaves nothing planted behind — once across four racing instances', async () => {
    const ran = await Promise.all(pools.map((p) => anomalyStep(deps(p))));
    expect(ran.sort()).toEqual([0, 0, 0, 3]);
    const rows = await checks();
    expect(rows.map((r) => [r.check_key, r.result])).toEqual(ANOMALY_CHECKS.map((c) => [c, 'pass']));
    expect(rows[0]!.details).toMatchObject({ planted: 1, detected: 1, missed: 0, falsePositives: 0 });
    expect(rows[2]!.details).toMatchObject({ leaked: false, served: true });
    const [left] = await db.sql`select (select count(*)::int from codex_kb.reflections where source = 'synthetic') as r,
                                       (select count(*)::int from codex_kb.embedding_versions where version <> ${embedder.version}) as v`;
    expect(left).toEqual({ r: 0, v: 0 });
    // within the interval: nothing more; an hour later: again
    expect(await anomalyStep(deps(db.sql))).toBe(0);
    expect(await anomalyStep(deps(db.sql, new Date(Date.now() + 61 * 60_000)))).toBe(3);
    expect((await checks()).length).toBe(6);
  });

  it('a detector flagging more than was planted is a recorded failure', async () => {
    // a stray lesson already in the reserved repository, pointing where the planted pair points
    const [r] = await db.sql`insert into codex_kb.reflections (reflection_type, content, repository, source) values ('x', 'stray', ${SYNTHETIC_REPOSITORY}, 'synthetic') returning id`;
    const v = new Array<number>(embedder.dimensions).fill(0);
    v[0] = 1;
    await db.sql`insert into codex_kb.reflection_embeddings (reflection_id, version, embedding) values (${r!.id}, ${embedder.version}, ${vectorLiteral(v)}::vector)`;
    expect(await anomalyStep(deps(db.sql, new Date(Date.now() + 3 * 3600_000)))).toBe(3);
    const last = (await checks()).slice(-3);
    expect(last[0]).toMatchObject({ check_key: 'kb.anomaly.near_duplicate', result: 'fail', details: { missed: 0 } });
    expect(last[0]!.details.falsePositives).toBeGreaterThan(0);
    expect(last.slice(1).map((x) => x.result)).toEqual(['pass', 'pass']);
  });
});
