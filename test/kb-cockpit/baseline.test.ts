// Monitoring's baseline check: the robust z-score as a pure function, then through telemetry
// deliveries over real PostgreSQL — a value far from its metric's recent values (no fixed
// threshold configured) is a breach that opens remediation and a monitoring.baseline entry in
// policy_checks; values inside the band, a history too short, and a redelivery are not; a
// metric a fixed threshold breached is said once.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { recordTelemetry } from '../../shared/intake/facts.js';
import { judgeBaseline } from '../../shared/monitoring/baseline.js';
import { createTestDb, type TestDb } from '../helpers/db.js';

const cfg = { samples: 30, minSamples: 8, z: 3.5 };

describe('judgeBaseline (pure)', () => {
  it('median and MAD, not mean and deviation: one old spike does not widen the band', () => {
    const history = [100, 101, 99, 100, 102, 98, 100, 101, 5000];
    expect(judgeBaseline(history, 103, cfg)!.outside).toBe(false);
    expect(judgeBaseline(history, 130, cfg)).toMatchObject({ median: 100, outside: true });
    expect(judgeBaseline(history.slice(0, 7), 10_000, cfg)).toBeUndefined();
    // a metric that never moved: the mean absolute deviation, then any change, leaves it
    expect(judgeBaseline(new Array(8).fill(0), 0, cfg)!.outside).toBe(false);
    expect(judgeBaseline(new Array(8).fill(0), 1, cfg)).toMatchObject({ z: Infinity, outside: true });
  });
});

describe('telemetry against its baseline', () => {
  let db: TestDb;
  const config = loadConfig({ FACTEUR_MONITOR_THRESHOLDS: JSON.stringify({ error_rate: { max: 0.05 } }), FACTEUR_MONITOR_BASELINE_MIN_SAMPLES: '8' });
  let n = 0;
  const send = (body: Record<string, unknown>) =>
    recordTelemetry(db.sql, config, Buffer.from(JSON.stringify({ id: `t-${++n}`, repository: 'acme/shop', ...body })), { source: 'test', id: String(n), topic: 'codex.telemetry' });
  let ideaId: string;
  beforeAll(async () => {
    db = await createTestDb();
    const [i] = await db.sql`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status, deployed_version, monitoring_until)
      values ('api', 'baseline', 'Shop', 'acme/shop', '{}', 'monitoring', 'v1', now() + interval '1 hour') returning id`;
    ideaId = i!.id as string;
  });

  it('a value leaving its recent baseline is a breach, a monitoring.baseline check and a remediation', async () => {
    // building the history: nothing is judged before eight values are known
    for (const v of [120, 118, 125, 119, 121, 122, 117, 123]) expect((await send({ metrics: { latency_p99_ms: v } })).body).toMatchObject({ breaches: [] });
    expect((await send({ metrics: { latency_p99_ms: 126 } })).body).toMatchObject({ breaches: [], remediation: [] });
    const [samples] = await db.sql`select count(*)::int as n from codex_kb.telemetry_samples where repository = 'acme/shop' and metric = 'latency_p99_ms'`;
    expect(samples!.n).toBe(9);
    const r = await send({ metrics: { latency_p99_ms: 480 } });
    expect(r.duplicate).toBe(false);
    expect(r.body).toMatchObject({ breaches: [{ metric: 'latency_p99_ms', value: 480, kind: 'baseline', threshold: expect.stringMatching(/^baseline 121 ± 3.5×/) }], remediation: [ideaId] });
    const [check] = await db.sql<{ result: string; message: string; details: any }[]>`select result, message, details from codex_kb.policy_checks where check_key = 'monitoring.baseline'`;
    expect(check).toMatchObject({ result: 'warn', details: { repository: 'acme/shop', metric: 'latency_p99_ms', value: 480, median: 121, samples: 9 } });
    const [idea] = await db.sql`select status from codex_kb.ideas where id = ${ideaId}`;
    expect(idea!.status).toBe('remediation');
    const [event] = await db.sql`select payload from codex_kb.run_events where idea_id = ${ideaId} and event_type = 'monitoring.regression_detected'`;
    expect(event!.payload.breaches).toEqual([expect.objectContaining({ metric: 'latency_p99_ms', kind: 'baseline' })]);
  });

  it('a redelivery records no second sample; a threshold breach is said once, by the threshold', async () => {
    const body = JSON.stringify({ id: 'dup-1', repository: 'acme/shop', metrics: { latency_p99_ms: 121 } });
    const ce = { source: 'test', id: 'dup', topic: 'codex.telemetry' };
    await recordTelemetry(db.sql, config, Buffer.from(body), ce);
    const again = await recordTelemetry(db.sql, config, Buffer.from(body), ce);
    expect(again.duplicate).toBe(true);
    const [samples] = await db.sql`select count(*)::int as n from codex_kb.telemetry_samples where metric = 'latency_p99_ms'`;
    expect(samples!.n).toBe(11);
    for (let i = 0; i < 8; i++) await send({ metrics: { error_rate: 0.01 } });
    const r = await send({ metrics: { error_rate: 0.5 } });
    expect(r.body.breaches).toEqual([{ metric: 'error_rate', value: 0.5, threshold: '> 0.05' }]);
    const [checks] = await db.sql`select count(*)::int as n from codex_kb.policy_checks where check_key = 'monitoring.baseline'`;
    expect(checks!.n).toBe(1);
  });
});
