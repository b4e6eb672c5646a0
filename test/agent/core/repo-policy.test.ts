// facteur-agent at planning reads the repository's `.facteur/policy.yml` from the worktree
// of the base (a real git repository, the example agent planning) and reports it as a
// `policy` artifact the callbacks accept: the document with the digest of its bytes, or
// every problem with its line; a symbolic link out of the worktree is refused, not followed.
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseAgentEnv } from '../../../shared/agent/env.js';
import { readInputs } from '../../../shared/agent/inputs.js';
import { runStage } from '../../../shared/agent/stages.js';
import { ARTIFACT_SCHEMAS } from '../../../shared/callbacks/artifacts.js';

const root = mkdtempSync(join(tmpdir(), 'facteur-repo-policy-'));
const example = join(import.meta.dirname, '../../../examples/agent/example-agent.mjs');
afterAll(() => rmSync(root, { recursive: true, force: true }));
const run = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8' }).trim();

let n = 0;
/** A bare repository whose main holds `files` (a value `{ link }` is a symbolic link). */
function repository(files: Record<string, string | { link: string }>): string {
  const name = `repo-${++n}`;
  const bare = join(root, `${name}.git`);
  const seed = join(root, `${name}-seed`);
  run(root, '-c', 'init.defaultBranch=main', 'init', '--bare', '--quiet', bare);
  run(root, '-c', 'init.defaultBranch=main', 'init', '--quiet', seed);
  writeFileSync(join(seed, 'package.json'), JSON.stringify({ name, private: true, type: 'module', scripts: { test: 'node --test' } }));
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(join(seed, path, '..'), { recursive: true });
    if (typeof content === 'string') writeFileSync(join(seed, path), content);
    else symlinkSync(content.link, join(seed, path));
  }
  run(seed, 'add', '--all');
  run(seed, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '--quiet', '-m', 'initial');
  run(seed, 'push', '--quiet', bare, 'main');
  return bare;
}

async function plan(bare: string) {
  const dir = mkdtempSync(join(root, 'planning-'));
  mkdirSync(join(dir, 'in'));
  writeFileSync(join(dir, 'in', 'event-body.json'), JSON.stringify({
    stage: 'planning', ideaId: '0badcafe-0000-4000-8000-000000000002', ideaTitle: 'Word count', taskKey: 'planning-1', title: 'Plan: word count',
    description: 'Count words.', acceptanceCriteria: ['npm test passes'], paths: [], repository: bare, branch: 'facteur/0badcafe/planning-1', base: 'main',
  }));
  const env = parseAgentEnv({
    FACTEUR_INPUT_DIR: join(dir, 'in'), FACTEUR_OUTPUT_DIR: join(dir, 'out'), FACTEUR_WORK_DIR: join(root, 'work'),
    FACTEUR_RUN_ID: `run-plan-${n}-${Math.random().toString(36).slice(2, 8)}`, FACTEUR_ATTEMPT: '1', FACTEUR_HEARTBEAT_SECONDS: '1',
    FACTEUR_AGENT_COMMAND: JSON.stringify([process.execPath, example]),
  });
  mkdirSync(env.outputDir, { recursive: true });
  const reported: { kind: string; data: any }[] = [];
  await runStage({ env, inputs: await readInputs(env.inputDir), artifact: async (kind, data) => void reported.push({ kind, data }), tick: () => {}, processEnv: process.env });
  return reported;
}

const POLICY = 'schemaVersion: 1\nstrict: true\nrules:\n  churn:\n    maxLinesPerTask: 200\n';
const sha = (s: string) => `sha256:${createHash('sha256').update(s).digest('hex')}`;

describe('the repo-local policy file at planning', () => {
  it('is reported as a policy artifact with its document and the digest of its bytes, before the agent runs', async () => {
    const reported = await plan(repository({ '.facteur/policy.yml': POLICY }));
    expect(reported.map((r) => r.kind)).toEqual(['toolchain', 'policy', 'prompt', 'plan']);
    const p = reported.find((r) => r.kind === 'policy')!.data;
    expect(p).toEqual({ path: '.facteur/policy.yml', digest: sha(POLICY), document: { schemaVersion: 1, strict: true, rules: { churn: { maxLinesPerTask: 200 } } } });
    expect(ARTIFACT_SCHEMAS.policy!.safeParse(p).success).toBe(true);
  });

  it('an invalid file is reported with every problem and its line, not a failed planning', async () => {
    const bad = 'schemaVersion: 1\nrules:\n  churn: { mode: block }\n  lunch: {}\napprovals:\n  eligible: { logins: [me] }\n';
    const reported = await plan(repository({ '.facteur/policy.yml': bad }));
    const p = reported.find((r) => r.kind === 'policy')!.data;
    expect(p).toMatchObject({ path: '.facteur/policy.yml', digest: sha(bad), error: { message: expect.any(String) } });
    expect(p.document).toBeUndefined();
    const where = p.error.issues.map((i: any) => i.path).join(' | ');
    expect(where).toMatch(/rules\.churn\.mode/);
    expect(where).toMatch(/lunch/);
    expect(where).toMatch(/approvals/); // who approves is never the repository's say
    expect(reported.map((r) => r.kind)).toContain('plan');
    expect(ARTIFACT_SCHEMAS.policy!.safeParse(p).success).toBe(true);
  });

  it('a symbolic link to a file outside the worktree is refused and its content never read', async () => {
    const secret = join(root, 'secret-token');
    writeFileSync(secret, 'schemaVersion: 1\n# TOPSECRET-VALUE\n');
    const reported = await plan(repository({ '.facteur/policy.yml': { link: secret } }));
    const p = reported.find((r) => r.kind === 'policy')!.data;
    expect(p.error.message).toMatch(/must be a regular file \(a symbolic link is not followed\)/);
    expect(JSON.stringify(reported)).not.toContain('TOPSECRET');
  });

  it('no file, no artifact', async () => {
    const reported = await plan(repository({ 'README.md': '# hi\n' }));
    expect(reported.map((r) => r.kind)).not.toContain('policy');
  });
});
