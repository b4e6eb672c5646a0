#!/usr/bin/env node
// `facteur-agent <stage>`: one stage of a Facteur run, done in a real git worktree and
// reported through the callbacks API (shared/agent/cli.ts).
import { runAgentCli } from '../shared/agent/cli.js';

process.exitCode = await runAgentCli(process.argv.slice(2), process.env, {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
});
