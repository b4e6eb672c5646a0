#!/usr/bin/env node
// `facteur-agent <stage>`: one stage of a Facteur run, done in a real git worktree and
// reported through the callbacks API (shared/agent/cli.ts). With an OTLP endpoint set, the
// stage's work is a span in the run's trace (TRACEPARENT), its reports its children.
import { runAgentCli } from '../shared/agent/cli.js';
import { contextFrom, inSpan, startTelemetry, validTraceparent } from '../shared/telemetry/index.js';

const telemetry = await startTelemetry(process.env, 'facteur-agent');
const run = () =>
  runAgentCli(process.argv.slice(2), process.env, {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
  });
const traceparent = validTraceparent(process.env.TRACEPARENT);
process.exitCode = traceparent
  ? await inSpan(`facteur-agent ${process.argv[2] ?? ''}`.trim(), { parent: contextFrom(traceparent), attributes: { 'facteur.stage': process.argv[2] ?? '', 'facteur.run_id': process.env.FACTEUR_RUN_ID ?? '' } }, async (span) => {
      const code = await run();
      span.setAttribute('process.exit.code', code);
      return code;
    })
  : await run();
await telemetry?.shutdown();
