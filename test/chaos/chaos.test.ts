// The chaos harness, short and seeded, inside `npm test`: ~40 ideas through their whole
// lives on real processes (2 instances of each function, dist/functions/server.js) while
// instances are killed, PostgreSQL restarts, the broker pauses, the Kubernetes API fails
// and steps misbehave; then every invariant of the registry must be 0 (one test each).
// `npm run chaos` is the long version (test/infra/run-chaos.mjs).
import { beforeAll, describe, expect, it } from 'vitest';
import { runChaos, type ChaosReport } from './harness.js';
import { INVARIANTS } from './invariants/index.js';
import { ensureCompiled } from '../helpers/build.js';

const SEED = Number(process.env.CHAOS_SEED ?? 20240611);
const ENTRY = 'dist/functions/server.js';

let report: ChaosReport;

describe(`chaos: 40 ideas under faults (seed ${SEED})`, () => {
  beforeAll(async () => {
    ensureCompiled();
    report = await runChaos({
      seed: SEED, ideas: 40, instances: 2, faults: true, entry: ENTRY,
      faultMeanMs: 900, hostileRepeats: 1, stallS: 30, window: 40,
      // beside the rest of the suite on 2 cores a live step can go 5 s without a heartbeat sent
      heartbeatTimeoutS: 10,
      log: (line) => process.stderr.write(`[chaos] ${line}\n`),
    });
    process.stderr.write(`${report.lines.join('\n')}\n${report.logDir ? `logs: ${report.logDir}\n` : ''}`);
  }, 240_000);

  it('injected every kind of scheduled fault and drove every idea', () => {
    for (const kind of ['kill_instance', 'restart_postgres', 'pause_broker', 'redelivery']) expect(report.faults[kind] ?? 0, kind).toBeGreaterThan(0);
    expect(report.history.records.size).toBeGreaterThanOrEqual(40);
  });

  it('the governed load was governed: votes cast and refused, budgets that bound', () => {
    const h = report.history;
    const govs = [...h.ideas.values()].flatMap((i) => (i.gov ? [i.gov.kind] : []));
    expect(govs).toContain('risky');
    expect(h.votes.filter((v) => v.why === 'self' || v.why === 'outsider').length).toBeGreaterThan(0);
    expect(h.votes.some((v) => (v.body as { counted?: unknown }).counted === true)).toBe(true);
    expect(report.invariants.find((x) => x.name === 'budgets_overshot')!.info).toMatch(/[1-9]\d* blocked by their budget/);
  });

  for (const inv of INVARIANTS) {
    it(`${inv.name} = 0 (${inv.description})`, () => {
      const r = report.invariants.find((x) => x.name === inv.name)!;
      expect(r.violations, `${r.name}=${r.violations}\n${r.examples.join('\n')}`).toBe(0);
    });
  }
});
