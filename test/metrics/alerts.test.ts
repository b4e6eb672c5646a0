// Alerts as outbox events, each occurrence exactly once: evaluated by ticks racing on
// separate connection pools (two instances), then again; with thresholds from configuration.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import type { Sql } from '../../shared/db/index.js';
import { evaluateAlerts, type AlertsConfig } from '../../shared/metrics/index.js';
import { startSystem, tick, type System } from '../helpers/system.js';
import { createTestDb, extraPool, type TestDb } from '../helpers/db.js';
import { seedIdea, seedRun } from './seed.js';

let db: TestDb;
let pools: Sql[];
const config = loadConfig({ FACTEUR_STUCK_MINUTES: '60', FACTEUR_ALERT_FAILURE_COUNT: '3', FACTEUR_ALERT_FAILURE_WINDOW_MINUTES: '30' });

beforeAll(async () => {
  db = await createTestDb();
  pools = [db.sql, extraPool(db), extraPool(db)];
});
beforeEach(async () => {
  await db.sql`delete from codex_kb.outbox`;
});

/** Six evaluations at once, two on each of three pools. */
async function race(cfg: AlertsConfig = config): Promise<void> {
  await Promise.all([...pools, ...pools].map((sql) => evaluateAlerts(sql, cfg)));
}

async function events(type: string): Promise<{ event_id: string; subject: string; key: string; topic: string; data: any }[]> {
  return db.sql`select event_id, subject, key, topic, data from codex_kb.outbox where type = ${type} order by id` as never;
}

const SIG = 'error TS2322: Type <str> is not assignable to type <str>';
const failure = (n: number, minutesAgo = 5) => ({
  stage: 'implementation' as const, status: 'failed' as const, queuedHoursAgo: (minutesAgo + 10) / 60, latencyS: 1, durationS: 10 * 60 - n,
  errorCode: 'compile_error', errorMessage: `tsc exited with 2: src/a.ts(${n},1) [signature: ${SIG}]`,
});

describe('stuck ideas', () => {
  it('one facteur.alert.stuck (and one facteur.idea.stuck) per window of no progress, however many ticks race', async () => {
    const idea = await seedIdea(db.sql, 'acme/stuck');
    await db.sql`update codex_kb.ideas set last_progress_at = now() - interval '90 minutes' where id = ${idea.ideaId}`;
    await race();
    await race();
    const alerts = await events('facteur.alert.stuck');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toMatchObject({ subject: idea.ideaId, key: idea.ideaId, topic: config.topics.events });
    expect(alerts[0]!.data).toMatchObject({ ideaId: idea.ideaId, repository: 'acme/stuck', kind: 'stuck', details: { status: 'running_tasks', thresholdMinutes: 60 } });
    expect(alerts[0]!.data.message).toMatch(/no progress for 90 minutes/);
    // the unfinished tasks it waits on (seedIdea makes one per stage, all pending)
    expect(alerts[0]!.data.details.tasks.map((t: { key: string; state: string }) => `${t.key}:${t.state}`).sort())
      .toEqual(['deploy:pending', 'implementation:pending', 'integration:pending', 'planning:pending', 'review:pending']);
    expect(await events('facteur.idea.stuck')).toHaveLength(1);
    // the alert's event id is the ledger's
    const [row] = await db.sql`select event_id from codex_kb.alerts where kind = 'stuck' and subject = ${idea.ideaId}`;
    expect(row!.event_id).toBe(alerts[0]!.event_id);

    // still stuck a window later: reported again, once
    await db.sql`update codex_kb.alerts set raised_at = raised_at - interval '1 hour' where subject = ${idea.ideaId}`;
    await db.sql`alter table codex_kb.ideas disable trigger ideas_transition`;
    await db.sql`update codex_kb.ideas set last_progress_at = last_progress_at - interval '1 hour' where id = ${idea.ideaId}`;
    await db.sql`alter table codex_kb.ideas enable trigger ideas_transition`;
    await race();
    // (the stretch's start moved, so this is a new occurrence: still exactly one more)
    expect(await events('facteur.alert.stuck')).toHaveLength(2);
  });

  it('an idea that progresses, or waits on a person, is not stuck', async () => {
    const moving = await seedIdea(db.sql, 'acme/moving');
    const waiting = await seedIdea(db.sql, 'acme/waiting');
    await db.sql`update codex_kb.ideas set last_progress_at = now() - interval '59 minutes' where id = ${moving.ideaId}`;
    await db.sql`update codex_kb.ideas set status = 'awaiting_approval' where id = ${waiting.ideaId}`;
    await db.sql`update codex_kb.ideas set last_progress_at = now() - interval '5 hours' where id = ${waiting.ideaId}`;
    await race();
    const subjects = (await events('facteur.alert.stuck')).map((e) => e.subject);
    expect(subjects).not.toContain(moving.ideaId);
    expect(subjects).not.toContain(waiting.ideaId);
  });
});

describe('the same failure repeated', () => {
  it('N failures with one signature in the window → one alert, however many ticks race; N-1 → none', async () => {
    const a = await seedIdea(db.sql, 'acme/flaky');
    for (let i = 0; i < 2; i++) await seedRun(db.sql, a, 'acme/flaky', failure(i));
    await race();
    expect(await events('facteur.alert.repeated_failure')).toHaveLength(0);
    await seedRun(db.sql, a, 'acme/flaky', failure(2));
    await race();
    const alerts = await events('facteur.alert.repeated_failure');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.data).toMatchObject({
      ideaId: a.ideaId, repository: 'acme/flaky', kind: 'repeated_failure',
      details: { code: 'compile_error', signature: SIG, count: 3, threshold: 3, windowMinutes: 30 },
    });
    expect(alerts[0]!.data.details.runIds).toHaveLength(3);
    // a fourth within the window adds nothing; the same signature elsewhere is its own alert
    await seedRun(db.sql, a, 'acme/flaky', failure(3));
    const b = await seedIdea(db.sql, 'acme/other');
    for (let i = 0; i < 3; i++) await seedRun(db.sql, b, 'acme/other', failure(i));
    await race();
    const after = await events('facteur.alert.repeated_failure');
    expect(after.map((e) => e.data.repository)).toEqual(['acme/flaky', 'acme/other']);
  });

  it('failures older than the window do not count, and an alert comes again only for a new failure after a window without one', async () => {
    const a = await seedIdea(db.sql, 'acme/old');
    for (let i = 0; i < 2; i++) await seedRun(db.sql, a, 'acme/old', failure(i, 45));
    await seedRun(db.sql, a, 'acme/old', failure(9, 2));
    await race();
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/old')).toHaveLength(0);
    for (let i = 3; i < 5; i++) await seedRun(db.sql, a, 'acme/old', failure(i, 1));
    await race();
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/old')).toHaveLength(1);
    await db.sql`update codex_kb.alerts set raised_at = now() - interval '31 minutes' where repository = 'acme/old'`;
    // a window later, the same failures are still the same occurrence: nothing new
    await race();
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/old')).toHaveLength(1);
    // a new failure, with the count still reached, is a new occurrence
    await seedRun(db.sql, a, 'acme/old', failure(7, 0));
    await race();
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/old')).toHaveLength(2);
  });

  it('the threshold and window come from configuration', async () => {
    const a = await seedIdea(db.sql, 'acme/threshold');
    for (let i = 0; i < 2; i++) await seedRun(db.sql, a, 'acme/threshold', failure(i));
    await race(loadConfig({ FACTEUR_ALERT_FAILURE_COUNT: '5' }));
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/threshold')).toHaveLength(0);
    await race(loadConfig({ FACTEUR_ALERT_FAILURE_COUNT: '2', FACTEUR_ALERT_FAILURE_WINDOW_MINUTES: '1' }));
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/threshold')).toHaveLength(0);
    await race(loadConfig({ FACTEUR_ALERT_FAILURE_COUNT: '2' }));
    expect((await events('facteur.alert.repeated_failure')).filter((e) => e.data.repository === 'acme/threshold')).toHaveLength(1);
    expect(() => loadConfig({ FACTEUR_ALERT_FAILURE_COUNT: '1' })).toThrow(/FACTEUR_ALERT_FAILURE_COUNT/);
    expect(() => loadConfig({ FACTEUR_ALERT_FAILURE_WINDOW_MINUTES: '0' })).toThrow(/FACTEUR_ALERT_FAILURE_WINDOW_MINUTES/);
  });
});

describe('deploy regressions', () => {
  it('one facteur.alert.regression per regression detected, however many ticks race', async () => {
    const a = await seedIdea(db.sql, 'acme/regressed');
    await db.sql`update codex_kb.ideas set deployed_version = 'v7' where id = ${a.ideaId}`;
    const breaches = [{ metric: 'error_rate', value: 0.2, threshold: '> 0.05' }];
    const insert = () => db.sql`insert into codex_kb.run_events (idea_id, event_type, actor, payload) values (${a.ideaId}, 'monitoring.regression_detected', 'telemetry', ${db.sql.json({ breaches })})`;
    await insert();
    await race();
    await race();
    const alerts = await events('facteur.alert.regression');
    expect(alerts).toHaveLength(1);
    expect(alerts[0]!.data).toMatchObject({ ideaId: a.ideaId, repository: 'acme/regressed', kind: 'regression', details: { deployedVersion: 'v7', breaches } });
    await insert();
    await race();
    expect(await events('facteur.alert.regression')).toHaveLength(2);
  });
});

describe('from the dispatch tick', () => {
  let sys: System;
  beforeAll(async () => {
    sys = await startSystem({ FACTEUR_STUCK_MINUTES: '60' });
  }, 60_000);
  afterAll(() => sys?.close());

  it('two ticks at once over HTTP raise a regression once, and report it', async () => {
    const a = await seedIdea(sys.db.sql, 'acme/ticked');
    await sys.db.sql`insert into codex_kb.run_events (idea_id, event_type, actor) values (${a.ideaId}, 'monitoring.regression_detected', 'telemetry')`;
    const reports = await Promise.all([tick(sys), tick(sys)]);
    expect(reports.map((r) => r.alerts).sort()).toEqual([0, 1]);
    expect(await sys.db.sql`select 1 from codex_kb.outbox where type = 'facteur.alert.regression'`).toHaveLength(1);
  });
});
