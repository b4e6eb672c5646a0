// The whole system for end-to-end tests: a real PostgreSQL database, the functions served
// over real HTTP, and @kubernetes/client-node talking to an in-process FAKE Kubernetes API
// (test/helpers/fake-kube.ts) — or to a real cluster when KUBECONFIG is set. `StepDouble`
// plays the part of the Argo step: it reads the Workflow Facteur created, takes the run
// token from the Secret beside it (what the template mounts), and posts the callbacks a
// step would post.
import { CoreV1Api } from '@kubernetes/client-node';
import { createCallbacksHandler } from '../../functions/callbacks/index.js';
import { createDispatchHandler } from '../../functions/dispatch/index.js';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { createArgoClient, kubeConfigFromEnv, tokenOf, tokenSecretName, type Workflow } from '../../shared/argo/index.js';
import { loadConfig, type Config } from '../../shared/config/index.js';
import type { WorkflowBackend } from '../../shared/dispatch/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from './db.js';
import { startFakeKube, type FakeKube } from './fake-kube.js';
import { ideaSpec, postEvent, serve, type Served } from './http.js';

export interface System {
  readonly db: TestDb;
  readonly config: Config;
  readonly kube: FakeKube | undefined;
  readonly workflows: WorkflowBackend & { list?(labelSelector?: string): Promise<Workflow[]> };
  readonly urls: { intake: string; dispatch: string; callbacks: string; status: string };
  close(): Promise<void>;
}

export async function startSystem(env: Record<string, string> = {}, opts: { realCluster?: boolean; workflows?: WorkflowBackend } = {}): Promise<System> {
  const db = await createTestDb({ max: 10 });
  const config = loadConfig({
    FACTEUR_CALLBACK_SECRET: 'test-callback-secret',
    FACTEUR_RETRY_BASE_MS: '0',
    FACTEUR_MONITOR_WINDOW_S: '0',
    ...env,
  });
  const kube = opts.realCluster || opts.workflows ? undefined : await startFakeKube();
  const workflows =
    opts.workflows ??
    createArgoClient({
      kubeConfig: kube ? kube.kubeConfig() : kubeConfigFromEnv(),
      namespace: kube ? 'argo-workflows' : (process.env.FACTEUR_TEST_NAMESPACE ?? 'argo-workflows'),
      retry: { attempts: 3, baseMs: 5, maxMs: 20 },
      timeoutMs: 2000,
    });
  const served: Served[] = [];
  const callbacks = await serve(async (req) => handlers.callbacks(req));
  served.push(callbacks);
  const deps = { sql: db.sql, config: { ...config, maxBodyBytes: config.maxBodyBytes }, log: silentLogger, workflows, callbackBaseUrl: callbacks.url };
  const handlers = {
    intake: createIntakeHandler(deps),
    dispatch: createDispatchHandler(deps),
    callbacks: createCallbacksHandler(deps),
    status: createStatusHandler(deps),
  };
  const intake = await serve(handlers.intake);
  const dispatch = await serve(handlers.dispatch);
  const status = await serve(handlers.status);
  served.push(intake, dispatch, status);
  return {
    db,
    config,
    kube,
    workflows,
    urls: { intake: intake.url, dispatch: dispatch.url, callbacks: callbacks.url, status: status.url },
    async close() {
      await Promise.all(served.map((s) => s.close()));
      await kube?.close();
    },
  };
}

/** Posts an Idea Spec through intake, as KafkaSource would; returns the ids. */
export async function submitIdea(sys: System, overrides: Record<string, unknown> = {}): Promise<{ ideaId: string; taskId: string }> {
  const r = await postEvent(sys.urls.intake, { topic: 'codex.intent', body: JSON.stringify(ideaSpec(overrides)) });
  if (r.status !== 202) throw new Error(`intake answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

export async function tick(sys: System): Promise<any> {
  const res = await fetch(`${sys.urls.dispatch}/tick`, { method: 'POST' });
  if (res.status !== 200) throw new Error(`tick answered ${res.status}: ${await res.text()}`);
  return res.json();
}

export async function ideaDetail(sys: System, ideaId: string): Promise<any> {
  return (await fetch(`${sys.urls.status}/v1/ideas/${ideaId}`)).json();
}

/**
 * The run token a step of `workflow` gets: the `token` key of the Secret `<workflow>-token`
 * in the FAKE's store, which the WorkflowTemplates mount. Throws when there is none.
 */
export function runTokenOf(kube: FakeKube, workflow: Workflow | Record<string, any>): string {
  const { name, namespace } = (workflow as any).metadata;
  const secret = kube.secrets(namespace).find((s) => s.metadata.name === tokenSecretName(name));
  const token = tokenOf(secret);
  if (token === undefined) throw new Error(`fake-kube: no run token secret ${namespace}/${tokenSecretName(name)}`);
  return token;
}

/** The same, from the fake or (realCluster) from the cluster's Secret. */
export async function readRunToken(sys: System, workflow: Workflow | Record<string, any>): Promise<string> {
  if (sys.kube) return runTokenOf(sys.kube, workflow);
  const { name, namespace } = (workflow as any).metadata;
  const secret = await kubeConfigFromEnv().makeApiClient(CoreV1Api).readNamespacedSecret({ name: tokenSecretName(name), namespace });
  const token = tokenOf(secret as { data?: Record<string, string> });
  if (token === undefined) throw new Error(`no run token in secret ${namespace}/${tokenSecretName(name)}`);
  return token;
}

/** The Argo step, as far as Facteur can tell: it posts run events with the run's token. */
export class StepDouble {
  private seq = 0;
  readonly params: Record<string, string>;
  /** `token`: the run token from its Secret (runTokenOf / readRunToken); WorkflowWatch passes it. */
  constructor(readonly workflow: Workflow | Record<string, any>, private readonly runToken?: string) {
    const list = ((workflow as any).spec?.arguments?.parameters ?? []) as { name: string; value?: string }[];
    this.params = Object.fromEntries(list.map((p) => [p.name, p.value ?? '']));
  }
  /** The token the step read from the mounted Secret. */
  get token(): string {
    if (this.runToken === undefined) throw new Error(`StepDouble ${this.name}: no run token; pass runTokenOf(kube, workflow)`);
    return this.runToken;
  }
  get name(): string {
    return (this.workflow as any).metadata.name;
  }
  get stage(): string {
    return (this.workflow as any).metadata.labels['codex.stage'];
  }
  get runId(): string {
    return this.params.runId!;
  }
  decoded(name: string): any {
    return JSON.parse(Buffer.from(this.params[name] ?? '', 'base64').toString('utf8'));
  }
  async post(event: Record<string, unknown>, opts: { token?: string; seq?: number } = {}): Promise<{ status: number; body: any }> {
    const seq = opts.seq ?? ++this.seq;
    const res = await fetch(this.params.callbackUrl!, {
      method: 'POST',
      headers: { authorization: `Bearer ${opts.token ?? this.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ seq, at: new Date().toISOString(), ...event }),
    });
    return { status: res.status, body: await res.json() };
  }
  async run(artifacts: { kind: string; data: unknown }[], outcome: 'succeeded' | 'failed' = 'succeeded', extra: Record<string, unknown> = {}) {
    const out = [await this.post({ type: 'started' }), await this.post({ type: 'heartbeat', progress: 0.5 })];
    for (const a of artifacts) out.push(await this.post({ type: 'artifact', artifact: a }));
    out.push(await this.post({ type: 'completed', outcome, usage: { inputTokens: 100, outputTokens: 50, costUsd: 0.01 }, ...extra }));
    for (const r of out) if (r.status !== 202) throw new Error(`step ${this.name}: callback answered ${r.status} ${JSON.stringify(r.body)}`);
    return out;
  }
}

export function plan(keys: string[] = ['api', 'ui', 'docs'], chain = true) {
  return {
    milestones: [{ id: 'M1', title: 'Ship' }],
    tasks: keys.map((key, i) => ({
      key, title: `Task ${key}`, description: `Do ${key}`, acceptanceCriteria: [`${key} works`], paths: [`src/${key}`], risk: 'low',
      dependsOn: chain && i > 0 ? [{ key: keys[i - 1], type: 'hard' }] : [],
    })),
    acceptanceCriteria: ['everything works'],
    risks: [{ id: 'R1', description: 'scope', likelihood: 'low', impact: 'low', mitigation: 'anchor' }],
    openQuestions: [],
  };
}

export { STAGE_RESULT } from './stage-results.js';

/**
 * Waits for the next Workflow of an idea that this waiter has not returned before (the
 * fake's store, or the real cluster's list).
 */
export class WorkflowWatch {
  private readonly seen = new Set<string>();
  constructor(private readonly sys: System, private readonly ideaId: string) {}
  async next(timeoutMs = 10_000): Promise<StepDouble> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const all = await this.list();
      const fresh = all
        .filter((w) => !this.seen.has(w.metadata.name))
        .sort((a, b) => String(a.metadata.creationTimestamp ?? '').localeCompare(String(b.metadata.creationTimestamp ?? '')));
      if (fresh[0]) {
        this.seen.add(fresh[0].metadata.name);
        return new StepDouble(fresh[0], await readRunToken(this.sys, fresh[0]));
      }
      await new Promise((r) => setTimeout(r, 15));
    }
    throw new Error(`no new workflow for idea ${this.ideaId} within ${timeoutMs} ms`);
  }
  /** The workflows not yet returned by next(). */
  async pending(): Promise<string[]> {
    return (await this.list()).map((w) => w.metadata.name).filter((n) => !this.seen.has(n));
  }
  private async list(): Promise<any[]> {
    if (this.sys.kube) return this.sys.kube.workflows().filter((w: any) => w.metadata?.annotations?.['facteur.dev/idea-id'] === this.ideaId);
    return ((await this.sys.workflows.list?.()) ?? []).filter((w: any) => w.metadata?.annotations?.['facteur.dev/idea-id'] === this.ideaId);
  }
}
