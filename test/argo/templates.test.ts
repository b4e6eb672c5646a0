// The WorkflowTemplates under knative/workflow-templates: valid against the Argo CRD
// schema, in step with what buildWorkflow sends, taking the run token from the Secret
// beside the Workflow (never from a parameter), and — run with bash, with stub
// `facteur-agent` / `facteur-step` on PATH — doing what the callbacks contract expects.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowTemplate } from '@kubernetes-models/argo-workflows/argoproj.io/v1alpha1';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { STAGES, TOKEN_DIR, TOKEN_FILE, TOKEN_KEY, buildRunTokenSecret, buildWorkflow, tokenSecretName, type Stage } from '../../shared/argo/index.js';
import { SAMPLE_TOKEN, sampleInput, sampleToken } from './sample.js';

const DIR = join(import.meta.dirname, '../../knative/workflow-templates');
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed YAML
type Obj = Record<string, any>;
const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml'));
const load = (file: string): Obj => parse(readFileSync(join(DIR, file), 'utf8')) as Obj;
const templateOf = (stage: Stage): Obj => load(`github-codex-${stage}.yaml`);
const ARTIFACTS: Record<Stage, string[]> = {
  planning: ['plan'],
  implementation: ['test-report', 'diff-stats'],
  review: ['review'],
  integration: ['integration'],
  deploy: ['deploy'],
};

describe('workflow templates', () => {
  it('has exactly one per stage', () => {
    expect(files.sort()).toEqual(STAGES.map((s) => `github-codex-${s}.yaml`).sort());
  });

  it.each(files)('%s parses and validates against the WorkflowTemplate schema', (file) => {
    const doc = load(file);
    expect(() => new WorkflowTemplate(doc as never).validate()).not.toThrow();
    expect(doc.metadata.namespace).toBe('argo-workflows');
    expect(doc.metadata.name).toBe(file.replace(/\.yaml$/, ''));
    expect(doc.spec.serviceAccountName).toBe('argo-workflows-workflow');
  });

  it.each(STAGES)('%s declares every parameter buildWorkflow sends, and the image', (stage) => {
    const declared = (templateOf(stage).spec.arguments.parameters as Obj[]).map((p) => p.name);
    const sent = (buildWorkflow(sampleInput({ stage })).spec.arguments?.parameters ?? []).map((p) => p.name);
    expect(declared).toEqual(expect.arrayContaining([...sent, 'image']));
    const image = (templateOf(stage).spec.arguments.parameters as Obj[]).find((p) => p.name === 'image');
    expect(image?.value).toBe('ghcr.io/facteur/codex-agent:latest');
    expect(templateOf(stage).spec.arguments.parameters.find((p: Obj) => p.name === 'base').value).toBe('main');
  });

  it.each(STAGES)('%s only substitutes parameters into env and image, never into a script', (stage) => {
    const doc = templateOf(stage);
    for (const t of doc.spec.templates as Obj[]) {
      const placeholders = JSON.stringify([t.container.command, t.container.args]).match(/\{\{[^}]*\}\}/g) ?? [];
      expect(placeholders.every((p) => p === '{{workflow.status}}'), placeholders.join()).toBe(true);
      for (const e of t.container.env as Obj[]) {
        if (e.value !== undefined && String(e.value).includes('{{')) expect(e.value).toMatch(/^\{\{workflow\.parameters\.\w+\}\}$/);
      }
      expect(t.container.image).toBe('{{workflow.parameters.image}}');
    }
    // and into volumes, only the workflow's own name (Argo substitutes globals there)
    const inVolumes = JSON.stringify(doc.spec.volumes ?? []).match(/\{\{[^}]*\}\}/g) ?? [];
    expect(inVolumes).toEqual(['{{workflow.name}}']);
  });

  it.each(STAGES)('%s mounts the run-token Secret read-only into every container, and names no token parameter', (stage) => {
    const doc = templateOf(stage);
    const volumes = (doc.spec.volumes ?? []) as Obj[];
    const tokenVolume = volumes.find((v) => v.secret?.secretName === '{{workflow.name}}-token');
    expect(tokenVolume?.secret.items).toEqual([{ key: TOKEN_KEY, path: TOKEN_KEY }]);
    // the Secret dispatch creates is the one this name resolves to
    const wf = buildWorkflow(sampleInput({ stage }));
    expect(tokenVolume?.secret.secretName.replace('{{workflow.name}}', wf.metadata.name)).toBe(buildRunTokenSecret(wf, sampleToken()).metadata.name);
    expect(tokenSecretName(wf.metadata.name ?? '')).toBe(`${wf.metadata.name}-token`);
    for (const t of doc.spec.templates as Obj[]) {
      expect(t.container.volumeMounts, t.name).toContainEqual({ name: tokenVolume?.name, mountPath: TOKEN_DIR, readOnly: true });
      const env = Object.fromEntries((t.container.env as Obj[]).map((e) => [e.name, e]));
      expect(env.FACTEUR_RUN_TOKEN_FILE, t.name).toEqual({ name: 'FACTEUR_RUN_TOKEN_FILE', value: TOKEN_FILE });
      expect(env.FACTEUR_RUN_TOKEN, t.name).toBeUndefined();
    }
    expect((doc.spec.arguments.parameters as Obj[]).map((p) => p.name)).not.toContain('runToken');
    expect(readFileSync(join(DIR, `github-codex-${stage}.yaml`), 'utf8')).not.toMatch(/parameters\.runToken|name: runToken/);
  });

  it.each(STAGES)('%s reports an unfinished run as failed on exit', (stage) => {
    const doc = templateOf(stage);
    const exit = (doc.spec.templates as Obj[]).find((t) => t.name === doc.spec.onExit);
    expect(exit?.container.command).toEqual(['facteur-step']);
    expect(exit?.container.args.slice(0, 3)).toEqual(['completed', 'failed', '--if-unfinished']);
    const env = (exit?.container.env as Obj[]).map((e) => e.name);
    expect(env).toEqual(expect.arrayContaining(['FACTEUR_CALLBACK_URL', 'FACTEUR_RUN_TOKEN_FILE']));
  });
});

describe('the step script, run with stub commands', () => {
  const work = mkdtempSync(join(tmpdir(), 'facteur-templates-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const hostile = "{{workflow.parameters.runToken}} {{=sprig.env('HOME')}} $(touch PWNED) `touch PWNED2` 'quote\"";

  /** Runs the stage's main script as Argo would: parameters substituted into env only. */
  function run(stage: Stage, agentExit: number, writeOutputs = true, agentSeconds = 0) {
    const dir = mkdtempSync(join(work, `${stage}-`));
    const log = join(dir, 'calls.log');
    const bin = join(dir, 'bin');
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    spawnSync('mkdir', ['-p', bin]);
    stub('facteur-step', `echo "$* | url=$FACTEUR_CALLBACK_URL token=$(cat "$FACTEUR_RUN_TOKEN_FILE") env=\${FACTEUR_RUN_TOKEN:-none}" >> "${log}"`);
    stub(
      'facteur-agent',
      `cp -r "$FACTEUR_INPUT_DIR" "${dir}/seen"
sleep ${agentSeconds}
${writeOutputs ? ARTIFACTS[stage].map((k) => `echo '{"ok":true}' > "$FACTEUR_OUTPUT_DIR/${k}.json"`).join('\n') : ''}
exit ${agentExit}`,
    );
    const wf = buildWorkflow(
      sampleInput({ stage, eventBody: { prompt: hostile }, intentAnchor: hostile, retrievedContext: 'ctx', rawEvent: { body: hostile } }),
    );
    const params = Object.fromEntries((wf.spec.arguments?.parameters ?? []).map((p) => [p.name, p.value ?? '']));
    const main = (templateOf(stage).spec.templates as Obj[]).find((t) => t.name === templateOf(stage).spec.entrypoint) as Obj;
    // The mounted Secret, as the kubelet lays it out (a file per key, a newline-free value).
    const mount = join(dir, 'token-mount');
    spawnSync('mkdir', ['-p', mount]);
    writeFileSync(join(mount, TOKEN_KEY), SAMPLE_TOKEN);
    const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH}`, TMPDIR: dir, FACTEUR_HEARTBEAT_SECONDS: '0.1' };
    for (const e of main.container.env as Obj[]) {
      if (e.value === undefined) continue; // secrets
      env[e.name] = String(e.value)
        .replace(/\{\{workflow\.parameters\.(\w+)\}\}/g, (_m: string, n: string) => params[n] ?? '')
        .replace(TOKEN_DIR, mount);
    }
    const script = String(main.container.args[0]).replaceAll('/tmp/facteur', join(dir, 'facteur'));
    const result = spawnSync(main.container.command[0], [...main.container.command.slice(1), script], { env, cwd: dir, encoding: 'utf8', timeout: 10_000 });
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
    return { result, calls, dir, params };
  }

  it.each(STAGES)('%s: started, artifacts, completed succeeded', (stage) => {
    const { result, calls, dir, params } = run(stage, 0);
    expect(result.status, result.stderr).toBe(0);
    const cmds = calls.map((c) => c.split(' | ')[0]);
    expect(cmds[0]).toMatch(new RegExp(`^started --message ${stage} attempt 1$`));
    expect(cmds.slice(1, -1)).toEqual(ARTIFACTS[stage].map((k) => `artifact ${k} ${join(dir, 'facteur/out', `${k}.json`)}`));
    expect(cmds.at(-1)).toBe('completed succeeded');
    expect(calls[0]).toContain(`url=${params.callbackUrl} token=${SAMPLE_TOKEN} env=none`);
    // Decoded byte for byte, and nothing in it was executed.
    expect(JSON.parse(readFileSync(join(dir, 'seen/event-body.json'), 'utf8')).prompt).toBe(hostile);
    expect(readFileSync(join(dir, 'seen/intent-anchor.md'), 'utf8')).toBe(hostile);
    expect(existsSync(join(dir, 'PWNED')) || existsSync(join(dir, 'PWNED2'))).toBe(false);
  });

  it('sends heartbeats while the agent works, and leaves no process behind', () => {
    const started = Date.now();
    const { result, calls } = run('deploy', 0, true, 0.45);
    expect(result.status, result.stderr).toBe(0);
    const heartbeats = calls.filter((c) => c.startsWith('heartbeat --progress 0.5 --quiet'));
    expect(heartbeats.length).toBeGreaterThanOrEqual(2);
    expect(calls.indexOf(heartbeats[0] ?? '')).toBeGreaterThan(0); // after started
    expect(calls.at(-1)).toMatch(/^completed succeeded/);
    expect(Date.now() - started).toBeLessThan(5_000); // the pipes closed: no sleeping loop kept them open
  });

  it('reports an agent failure as completed failed and fails the step', () => {
    const { result, calls } = run('planning', 3);
    expect(result.status).toBe(3);
    expect(calls.at(-1)).toMatch(/^completed failed --error-code agent_failed --error-message facteur-agent planning exited with 3/);
  });

  it('treats a missing result file as a failure', () => {
    const { result, calls } = run('review', 0, false);
    expect(result.status).not.toBe(0);
    expect(calls.some((c) => c.startsWith('artifact'))).toBe(false);
    expect(calls.at(-1)).toMatch(/^completed failed/);
  });

  it('sends the implementation test report even when the agent failed', () => {
    const { calls } = run('implementation', 1);
    expect(calls.map((c) => c.split(' ')[0] + ' ' + c.split(' ')[1])).toEqual(['started --message', 'artifact test-report', 'completed failed']);
  });
});
