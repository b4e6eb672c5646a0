#!/usr/bin/env node
// Example stage for local mode: what the WorkflowTemplates in knative/workflow-templates/
// do around the agent, with a stand-in "agent" that produces plausible results. It reads
// the inputs Argo would decode (FACTEUR_INPUT_DIR), reports through `facteur-step`
// (started, heartbeats, artifacts, completed) like a step in a cluster.
//
//   node examples/stages/run-stage.mjs <planning|implementation|review|integration|deploy>
//
// Knobs for trying the unhappy paths locally: EXAMPLE_FAIL=<stage> makes that
// stage fail; EXAMPLE_REVIEW=changes_requested makes the first review ask for changes.
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const stage = process.argv[2];
const input = process.env.FACTEUR_INPUT_DIR;
const output = process.env.FACTEUR_OUTPUT_DIR;
const bin = process.env.FACTEUR_STEP_BIN ?? 'facteur-step';
const step = (...args) =>
  bin.endsWith('.ts') // the uncompiled CLI, when Facteur itself runs from its sources
    ? execFileSync(process.execPath, ['--import', 'tsx', bin, ...args, '--quiet'], { stdio: ['ignore', 'inherit', 'inherit'] })
    : execFileSync(process.execPath, [bin, ...args, '--quiet'], { stdio: ['ignore', 'inherit', 'inherit'] });
const body = JSON.parse(readFileSync(join(input, 'event-body.json'), 'utf8') || '{}');
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const pace = Number(process.env.EXAMPLE_STEP_MS ?? 150);

step('started', '--message', `${stage} attempt ${process.env.FACTEUR_ATTEMPT}`);
await sleep(pace);
step('heartbeat', '--progress', '0.5');

if (process.env.EXAMPLE_FAIL === stage) {
  step('completed', 'failed', '--error-code', 'example_failure', '--error-message', `EXAMPLE_FAIL=${stage}`);
  process.exit(0);
}

const slug = String(body.ideaTitle ?? 'idea').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 24) || 'idea';
const artifact = (kind, data) => {
  const file = join(output, `${kind}.json`);
  writeFileSync(file, JSON.stringify(data));
  step('artifact', kind, file);
};

switch (stage) {
  case 'planning':
    artifact('plan', {
      milestones: [{ id: 'M1', title: 'Deliver' }],
      tasks: [
        { key: `${slug}-design`, title: `Design: ${body.ideaTitle}`, description: 'Settle the data model and the API.', acceptanceCriteria: ['design reviewed'], paths: ['docs/'], risk: 'low', dependsOn: [] },
        { key: `${slug}-build`, title: `Build: ${body.ideaTitle}`, description: 'Implement it.', acceptanceCriteria: ['unit tests pass'], paths: ['src/'], risk: 'medium', dependsOn: [{ key: `${slug}-design`, type: 'hard' }] },
        { key: `${slug}-docs`, title: `Document: ${body.ideaTitle}`, description: 'User-facing docs.', acceptanceCriteria: ['docs published'], paths: ['docs/'], risk: 'low', dependsOn: [{ key: `${slug}-build`, type: 'hard' }] },
      ],
      acceptanceCriteria: ['all tasks done'],
      risks: [{ id: 'R1', description: 'scope creep', likelihood: 'medium', impact: 'medium', mitigation: 'keep to the intent anchor' }],
      openQuestions: [],
    });
    break;
  case 'implementation':
    artifact('diff-stats', { filesChanged: 3, insertions: 42, deletions: 7, task: body.taskKey });
    artifact('test-report', { passed: 12, failed: 0, skipped: 0 });
    break;
  case 'review': {
    const first = !body.reviewCycle && String(body.taskKey ?? '').endsWith('-1');
    const verdict = process.env.EXAMPLE_REVIEW === 'changes_requested' && first ? 'changes_requested' : 'approved';
    artifact('review', { verdict, summary: verdict === 'approved' ? 'Looks good.' : 'Please handle the empty state.', comments: [] });
    break;
  }
  case 'integration':
    artifact('integration', { merged: true, sha: Math.random().toString(16).slice(2, 12), into: process.env.CODEX_BASE || 'main' });
    break;
  case 'deploy':
    artifact('deploy', { deployed: true, version: `v${new Date().toISOString().replace(/[-:T.Z]/g, '').slice(0, 14)}` });
    break;
  default:
    step('completed', 'failed', '--error-code', 'unknown_stage', '--error-message', `no example for stage ${stage}`);
    process.exit(0);
}
await sleep(pace);
step('completed', 'succeeded', '--input-tokens', '1200', '--output-tokens', '800', '--cost-usd', '0.02');
