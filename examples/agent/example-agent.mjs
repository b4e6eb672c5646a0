#!/usr/bin/env node
// EXAMPLE AGENT — not a coding agent. A deterministic stand-in that local mode runs as
// FACTEUR_AGENT_COMMAND, so an idea goes through planning, implementation and review
// with real files, real commits and real tests, but no model and no network. Plain Node,
// no dependencies. A real agent (Codex, Claude Code…) takes its place in a cluster.
//
// Invoked with the working directory = the run's git worktree, and reads exactly:
//   FACTEUR_STAGE        planning | implementation | review (integration and deploy: no-op)
//   FACTEUR_PROMPT_FILE  the assembled prompt (required; only its size is used, for usage)
//   FACTEUR_INPUT_DIR    event-body.json: ideaTitle, taskKey, title, reviewCycle, reviewContext
//   FACTEUR_OUTPUT_DIR   where plan.json (planning) and review.json (review) are written
//   FACTEUR_ATTEMPT      the run's attempt, 1 when unset
// What it does:
//   planning        plan.json: 3 tasks keyed from the idea title (<slug>-core, -edge-cases,
//                   -summary), each on paths src/ and test/, each depending hard on the one before
//   implementation  src/<task-key>.js (one exported function) and test/<task-key>.test.js
//                   (node:test) that passes; after review feedback it also handles empty input
//   review          review.json {verdict, summary, comments[], tasks?}
// Its last line on stdout is `FACTEUR_USAGE {"inputTokens",…}`: made-up but deterministic
// counts from the prompt's size and what it wrote (the usage line any agent may print).
//
// Knobs, for showing the unhappy paths locally:
//   EXAMPLE_FAIL=<stage>               that stage's agent exits 1 with a message on stderr
//   EXAMPLE_REVIEW=changes_requested   the first review (review-1) asks for changes to the first task
//   EXAMPLE_BREAK_TEST=<task-key>      attempt 1 of that task writes a failing test; later attempts fix it
//   EXAMPLE_STEP_MS=<ms>               wait this long before working (a slow agent)
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TASK_KEY = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const stage = process.env.FACTEUR_STAGE ?? process.argv[2] ?? '';
const attempt = Number(process.env.FACTEUR_ATTEMPT || 1);
let written = 0;

function fail(message, code = 1) {
  process.stderr.write(`example agent: ${message}\n`);
  process.exit(code);
}

function required(name) {
  const v = process.env[name];
  if (!v) fail(`${name} is not set (see the header of examples/agent/example-agent.mjs)`, 2);
  return v;
}

function write(path, text) {
  writeFileSync(path, text);
  written += Buffer.byteLength(text);
}

/** The idea title as a key prefix: lower case, [a-z0-9-], at most 24 characters. */
function slugOf(title) {
  return String(title ?? 'idea').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 24).replace(/-+$/, '') || 'idea';
}

/** `todo-list-core` → `todoListCore`; a JS identifier whatever the key. */
function identifierOf(key) {
  const words = key.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const id = words.map((w, i) => (i === 0 ? w.toLowerCase() : w[0].toUpperCase() + w.slice(1).toLowerCase())).join('');
  return /^[0-9]/.test(id) ? `task${id}` : id || 'task';
}

function plan(body, output) {
  const title = String(body.ideaTitle ?? 'the idea').replace(/\s+/g, ' ').trim().slice(0, 150) || 'the idea';
  const slug = slugOf(body.ideaTitle);
  const task = (suffix, what, description, criterion, after) => ({
    key: `${slug}-${suffix}`,
    title: `${what}: ${title}`,
    description,
    acceptanceCriteria: [criterion],
    paths: ['src/', 'test/'],
    risk: 'low',
    dependsOn: after ? [{ key: `${slug}-${after}`, type: 'hard' }] : [],
  });
  write(join(output, 'plan.json'), `${JSON.stringify({
    milestones: [{ id: 'M1', title: 'Deliver' }],
    tasks: [
      task('core', 'Core', 'The smallest useful version, as a module with a test.', 'npm test passes with a test for the new module', undefined),
      task('edge-cases', 'Edge cases', 'Empty and unusual input.', 'npm test covers empty input', 'core'),
      task('summary', 'Summary', 'A summary function built on the first two.', 'npm test covers the summary', 'edge-cases'),
    ],
    acceptanceCriteria: ['npm test passes'],
    risks: [{ id: 'R1', description: 'scope creep', likelihood: 'low', impact: 'medium', mitigation: 'keep to the intent anchor' }],
    openQuestions: [],
  }, null, 2)}\n`);
  console.log(`example agent: planned 3 tasks for ${JSON.stringify(title)}`);
}

function implement(body) {
  const key = String(body.taskKey ?? '');
  if (!TASK_KEY.test(key)) fail(`event-body.json taskKey ${JSON.stringify(key)} is not a task key`, 2);
  const fn = identifierOf(key);
  const fixReview = body.reviewContext !== undefined && body.reviewContext !== null;
  const broken = process.env.EXAMPLE_BREAK_TEST === key && attempt <= 1;
  const title = JSON.stringify(String(body.title ?? key).replace(/\s+/g, ' ').trim().slice(0, 200));
  mkdirSync('src', { recursive: true });
  mkdirSync('test', { recursive: true });
  write(join('src', `${key}.js`), `// Task ${JSON.stringify(key)}: ${title} (written by Facteur's example agent).
// Counts the words of a text${fixReview ? '; empty or missing input counts none' : ''}.
export function ${fn}(text) {
${fixReview ? "  if (text === undefined || text === null) return { task: " + JSON.stringify(key) + ", words: 0 };\n" : ''}  const words = String(text).trim().split(/\\s+/).filter(Boolean);
  return { task: ${JSON.stringify(key)}, words: words.length };
}
`);
  write(join('test', `${key}.test.js`), `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ${fn} } from '../src/${key}.js';

test(${JSON.stringify(`${key} counts words`)}, () => {
  assert.deepEqual(${fn}('one two  three'), { task: ${JSON.stringify(key)}, words: ${broken ? 4 : 3} });
});
${fixReview ? `
test(${JSON.stringify(`${key} counts no words in empty input`)}, () => {
  assert.deepEqual(${fn}(undefined), { task: ${JSON.stringify(key)}, words: 0 });
});
` : ''}`);
  console.log(`example agent: wrote src/${key}.js and test/${key}.test.js (attempt ${attempt}${broken ? ', test broken on purpose by EXAMPLE_BREAK_TEST' : ''}${fixReview ? ', review feedback addressed' : ''})`);
}

function review(body, output) {
  const slug = slugOf(body.ideaTitle);
  const first = String(body.taskKey ?? '').endsWith('-1') && !body.reviewCycle;
  const ask = process.env.EXAMPLE_REVIEW === 'changes_requested' && first;
  let modules = [];
  try {
    modules = readdirSync('src').filter((f) => f.endsWith('.js') && statSync(join('src', f)).isFile()).sort();
  } catch {
    // no src/: nothing to count
  }
  const verdict = ask
    ? {
        verdict: 'changes_requested',
        summary: 'Please handle the empty state: a missing text should count no words.',
        comments: [{ path: `src/${slug}-core.js`, line: 3, body: 'undefined input counts one word ("undefined"); return 0 instead' }],
        tasks: [`${slug}-core`],
      }
    : { verdict: 'approved', summary: `Looks good: ${modules.length} module(s) in src/, each with its test.`, comments: [] };
  write(join(output, 'review.json'), `${JSON.stringify(verdict, null, 2)}\n`);
  console.log(`example agent: review ${verdict.verdict}`);
}

const promptFile = required('FACTEUR_PROMPT_FILE');
let promptBytes;
try {
  promptBytes = statSync(promptFile).size;
} catch (err) {
  fail(`cannot read FACTEUR_PROMPT_FILE ${promptFile}: ${err.code ?? err.message}`, 2);
}
// EXAMPLE_STEP_MS: think for this long first (a slow agent, for trying shutdown and recovery)
const pace = Number(process.env.EXAMPLE_STEP_MS ?? 0);
if (pace > 0) await new Promise((r) => setTimeout(r, pace));
if (process.env.EXAMPLE_FAIL && process.env.EXAMPLE_FAIL === stage) fail(`EXAMPLE_FAIL=${stage}: failing the ${stage} agent on purpose`);

const input = required('FACTEUR_INPUT_DIR');
let body;
try {
  body = JSON.parse(readFileSync(join(input, 'event-body.json'), 'utf8') || '{}');
} catch (err) {
  fail(`cannot read ${join(input, 'event-body.json')}: ${err.message}`, 2);
}

switch (stage) {
  case 'planning':
    plan(body, required('FACTEUR_OUTPUT_DIR'));
    break;
  case 'implementation':
    implement(body);
    break;
  case 'review':
    review(body, required('FACTEUR_OUTPUT_DIR'));
    break;
  case 'integration':
  case 'deploy':
    console.log(`example agent: nothing to do for ${stage}`);
    break;
  default:
    fail(`unknown stage ${JSON.stringify(stage)} (FACTEUR_STAGE)`, 2);
}

const inputTokens = Math.ceil(promptBytes / 4);
const outputTokens = Math.ceil(written / 4) + 50;
const costUsd = Math.round((inputTokens * 1.25 + outputTokens * 10) / 1e6 * 1e6) / 1e6;
console.log(`FACTEUR_USAGE ${JSON.stringify({ inputTokens, outputTokens, costUsd })}`);
