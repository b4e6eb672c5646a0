// `npm run chaos` (through test/infra/run-chaos.mjs): the harness from the command line.
// Knobs: CHAOS_SEED (replay), CHAOS_IDEAS, CHAOS_INSTANCES, CHAOS_FAULTS=on|off|both,
// CHAOS_WINDOW, CHAOS_FAULT_MS, CHAOS_HOSTILE, CHAOS_STALL_S, CHAOS_HEARTBEAT_S, CHAOS_KEEP_LOGS,
// CHAOS_GOVERNED=on|off (the enforcing pack, binding budgets and the voter double),
// CHAOS_NOTIFY=on|off (the notifiers against a FAKE GitHub and Discord).
import { existsSync } from 'node:fs';
import { runChaos, type ChaosReport } from './harness.js';
import { randomSeed } from './rng.js';

function int(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    console.error(`${name} must be an integer ≥ ${min}, got ${JSON.stringify(raw)}`);
    process.exit(2);
  }
  return n;
}

const seed = int('CHAOS_SEED', randomSeed());
const ideas = int('CHAOS_IDEAS', 1000, 1);
const instances = int('CHAOS_INSTANCES', 2, 1);
const mode = (process.env.CHAOS_FAULTS ?? 'on').toLowerCase();
if (!['on', 'off', 'both'].includes(mode)) {
  console.error(`CHAOS_FAULTS must be on, off or both, got ${JSON.stringify(process.env.CHAOS_FAULTS)}`);
  process.exit(2);
}
const governedKnob = (process.env.CHAOS_GOVERNED ?? 'on').toLowerCase();
if (!['on', 'off'].includes(governedKnob)) {
  console.error(`CHAOS_GOVERNED must be on or off, got ${JSON.stringify(process.env.CHAOS_GOVERNED)}`);
  process.exit(2);
}
const notifyKnob = (process.env.CHAOS_NOTIFY ?? 'on').toLowerCase();
if (!['on', 'off'].includes(notifyKnob)) {
  console.error(`CHAOS_NOTIFY must be on or off, got ${JSON.stringify(process.env.CHAOS_NOTIFY)}`);
  process.exit(2);
}
const entry = 'dist/functions/server.js';
if (!existsSync(entry)) {
  console.error(`${entry} is missing: run \`npm run build\` first (\`npm run chaos\` does)`);
  process.exit(2);
}
console.log(`CHAOS seed=${seed} (replay with CHAOS_SEED=${seed})`);

const common = {
  seed, ideas, instances, entry,
  window: int('CHAOS_WINDOW', 150, 1),
  faultMeanMs: int('CHAOS_FAULT_MS', 1500, 10),
  hostileRepeats: int('CHAOS_HOSTILE', 2, 0),
  stallS: int('CHAOS_STALL_S', 90, 5),
  // The step doubles' longest quiet stretch is a few seconds when callbacks are being retried
  // through an instance kill or a database restart on 2 busy cores: 15 s is three times that
  // (5 s lost a live run to the timeout, seeds 202 and 303), and still recovers a killed step fast.
  heartbeatTimeoutS: int('CHAOS_HEARTBEAT_S', 15, 2),
  keepLogs: process.env.CHAOS_KEEP_LOGS === '1' || process.env.CHAOS_KEEP_LOGS === 'true',
  governed: governedKnob === 'on',
  notify: notifyKnob === 'on',
};

const reports: ChaosReport[] = [];
for (const faults of mode === 'both' ? [false, true] : [mode === 'on']) {
  const report = await runChaos({ ...common, faults });
  reports.push(report);
  for (const line of report.lines) console.log(line);
  if (report.logDir) console.log(`logs: ${report.logDir}`);
}
if (reports.length === 2) {
  const [base, chaos] = reports as [ChaosReport, ChaosReport];
  console.log(`CHAOS ratio chaos/baseline=${(chaos.durationS / base.durationS).toFixed(2)} (${chaos.durationS.toFixed(1)}s / ${base.durationS.toFixed(1)}s)`);
}
process.exit(reports.every((r) => r.ok) ? 0 : 1);
