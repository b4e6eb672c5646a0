// The WorkflowTemplates under knative/workflow-templates: valid against the Argo CRD
// schema, in step with what buildWorkflow sends, taking the run token from the Secret
// beside the Workflow (never from a parameter), and — run with bash, with a stub
// `facteur-agent` on PATH — handing facteur-agent the decoded inputs and nothing else.
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

describe('the step script, run with a stub facteur-agent', () => {
  const work = mkdtempSync(join(tmpdir(), 'facteur-templates-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));
  const hostile = "{{workflow.parameters.runToken}} {{=sprig.env('HOME')}} $(touch PWNED) `touch PWNED2` 'quote\"";

  /** Runs the stage's main script as Argo would: parameters substituted into env only. */
  function run(stage: Stage, agentExit: number) {
    const dir = mkdtempSync(join(work, `${stage}-`));
    const bin = join(dir, 'bin');
    const stub = (name: string, body: string) => {
      writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
      chmodSync(join(bin, name), 0o755);
    };
    spawnSync('mkdir', ['-p', bin]);
    // facteur-agent reports the run itself: the script must hand it everything and get out of the way
    stub(
      'facteur-agent',
      `cp -r "$FACTEUR_INPUT_DIR" "${dir}/seen"
{ echo "argv=$*"; echo "out=$FACTEUR_OUTPUT_DIR"; echo "url=$FACTEUR_CALLBACK_URL"; echo "token=$(cat "$FACTEUR_RUN_TOKEN_FILE")";
  echo "env=\${FACTEUR_RUN_TOKEN:-none}"; echo "work=$FACTEUR_WORK_DIR"; echo "b64=\${EVENT_BODY_B64:-unset}"; echo "pid=$$"; } > "${dir}/agent.txt"
exit ${agentExit}`,
    );
    stub('facteur-step', `echo "$*" >> "${dir}/step-calls.log"`);
    const wf = buildWorkflow(
      sampleInput({ stage, eventBody: { prompt: hostile }, intentAnchor: hostile, retrievedContext: 'ctx', rawEvent: { body: hostile } }),
    );
    const params = Object.fromEntries((wf.spec.arguments?.parameters ?? []).map((p) => [p.name, p.value ?? '']));
    const main = (templateOf(stage).spec.templates as Obj[]).find((t) => t.name === templateOf(stage).spec.entrypoint) as Obj;
    // The mounted Secret, as the kubelet lays it out (a file per key, a newline-free value).
    const mount = join(dir, 'token-mount');
    spawnSync('mkdir', ['-p', mount]);
    writeFileSync(join(mount, TOKEN_KEY), SAMPLE_TOKEN);
    const env: Record<string, string> = { PATH: `${bin}:${process.env.PATH}`, TMPDIR: dir };
    for (const e of main.container.env as Obj[]) {
      if (e.value === undefined) continue; // secrets
      env[e.name] = String(e.value)
        .replace(/\{\{workflow\.parameters\.(\w+)\}\}/g, (_m: string, n: string) => params[n] ?? '')
        .replace(TOKEN_DIR, mount);
    }
    const script = String(main.container.args[0]).replaceAll('/tmp/facteur', join(dir, 'facteur'));
    const result = spawnSync(main.container.command[0], [...main.container.command.slice(1), script], { env, cwd: dir, encoding: 'utf8', timeout: 10_000 });
    const agent = existsSync(join(dir, 'agent.txt'))
      ? Object.fromEntries(readFileSync(join(dir, 'agent.txt'), 'utf8').trim().split('\n').map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]))
      : {};
    return { result, agent, dir, params };
  }

  it.each(STAGES)('%s: decodes the inputs byte for byte, executes none of them, and execs facteur-agent %s', (stage) => {
    const { result, agent, dir, params } = run(stage, 0);
    expect(result.status, result.stderr).toBe(0);
    expect(agent.argv).toBe(stage);
    expect(agent).toMatchObject({ out: join(dir, 'facteur/out'), url: params.callbackUrl, token: SAMPLE_TOKEN, env: 'none', work: '/work', b64: 'unset' });
    // the script's own shell became the agent (exec): nothing of the script runs after it
    expect(existsSync(join(dir, 'step-calls.log'))).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'seen/event-body.json'), 'utf8')).prompt).toBe(hostile);
    expect(readFileSync(join(dir, 'seen/intent-anchor.md'), 'utf8')).toBe(hostile);
    expect(readFileSync(join(dir, 'seen/retrieved-context.md'), 'utf8')).toBe('ctx');
    expect(existsSync(join(dir, 'PWNED')) || existsSync(join(dir, 'PWNED2'))).toBe(false);
  });

  it.each([1, 75])("passes facteur-agent's exit code %i on to Argo (the exit handler closes what is unfinished)", (code) => {
    const { result } = run('implementation', code);
    expect(result.status).toBe(code);
  });

  it.each(STAGES)('%s gives facteur-agent a work volume and its ConfigMap', (stage) => {
    const doc = templateOf(stage);
    const main = (doc.spec.templates as Obj[]).find((t) => t.name === doc.spec.entrypoint) as Obj;
    expect(doc.spec.volumes).toContainEqual({ name: 'work', emptyDir: {} });
    expect(main.container.volumeMounts).toContainEqual({ name: 'work', mountPath: '/work' });
    expect(main.container.envFrom).toEqual([{ configMapRef: { name: 'facteur-agent', optional: true } }]);
  });
});
