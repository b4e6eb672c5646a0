#!/usr/bin/env node
// `facteur-step <started|heartbeat|artifact|completed> …`: reports one event of an Argo step
// to Facteur's callbacks function (see `facteur-step --help`). Exit 0 recorded, 1 rejected,
// 2 usage, 75 gave up retrying. With an OTLP endpoint set, the report is a span in the run's
// trace (TRACEPARENT), flushed before the exit.
import { runStep } from '../shared/step/index.js';
import { startTelemetry } from '../shared/telemetry/index.js';

const telemetry = await startTelemetry(process.env, 'facteur-step');
process.exitCode = await runStep(process.argv.slice(2), process.env, {
  stdin: () => process.stdin,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
});
await telemetry?.shutdown();
