// `npm run chaos`: the chaos harness (test/chaos/main.ts: the whole system as real
// processes under load while faults are injected, invariants checked at the end), then
// any further suite listed in SUITES whose directory exists. Each suite is a command; the
// exit code is 1 if any suite failed. CHAOS_SUITES=chaos,fuzz picks suites by name.
//
// The harness starts and controls its own PostgreSQL and Kafka-protocol broker (it
// restarts and pauses them); suites with `services: true` get the shared ones from
// services.mjs (DATABASE_URL / KAFKA_BROKERS, unless already set), like `npm test`.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { ensureServices } from './services.mjs';

const node = process.execPath;

/** Add a suite here: { name, when?, services?, command: [executable, ...args], env? }. */
export const SUITES = [
  { name: 'chaos', command: [node, '--import', 'tsx', 'test/chaos/main.ts'] },
  {
    name: 'fuzz',
    when: () => existsSync('test/fuzz'),
    services: true,
    command: [node, 'node_modules/vitest/vitest.mjs', 'run', 'test/fuzz'],
    env: { FUZZ_RUNS: process.env.FUZZ_RUNS ?? '10000' },
  },
];

const only = (process.env.CHAOS_SUITES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
const selected = SUITES.filter((s) => (only.length === 0 || only.includes(s.name)) && (!s.when || s.when()));

const stops = [];
let current;
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => current?.kill(sig));

const results = [];
for (const suite of selected) {
  if (suite.services) stops.push(await ensureServices());
  const started = Date.now();
  process.stderr.write(`[run-chaos] suite ${suite.name}: ${suite.command.slice(1).join(' ')}\n`);
  const code = await new Promise((resolve) => {
    current = spawn(suite.command[0], suite.command.slice(1), { stdio: 'inherit', env: { ...process.env, ...(suite.env ?? {}) } });
    current.on('exit', (c, signal) => resolve(c ?? (signal ? 1 : 0)));
  });
  results.push({ name: suite.name, code, seconds: (Date.now() - started) / 1000 });
}
for (const stop of stops.reverse()) stop();
for (const r of results) console.log(`suite ${r.name}: ${r.code === 0 ? 'ok' : `failed (exit ${r.code})`} in ${r.seconds.toFixed(1)}s`);
process.exit(results.some((r) => r.code !== 0) ? 1 : 0);
