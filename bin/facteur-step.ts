#!/usr/bin/env node
// `facteur-step <started|heartbeat|artifact|completed> …`: reports one event of an Argo step
// to Facteur's callbacks function (see `facteur-step --help`). Exit 0 recorded, 1 rejected,
// 2 usage, 75 gave up retrying.
import { runStep } from '../shared/step/index.js';

process.exitCode = await runStep(process.argv.slice(2), process.env, {
  stdin: () => process.stdin,
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
});
