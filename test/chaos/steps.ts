// The Argo steps, played over HTTP. Every Workflow stored by the fake Kubernetes API gets a
// step double (a "pod"): it reads the callback URL, run id and attempt from the Workflow,
// gets the run token (`tokenFor`), and posts `started`, heartbeats, its stage's artifacts
// and `completed` to a random live callbacks instance, retrying what facteur-step retries.
// Seeded faults per attempt: drop a callback, send one twice (same seq), die mid-run
// (sometimes Argo reports the dead pod; sometimes it comes back as a zombie after its
// attempt was superseded), report failure. Ideas made to fail do so on every attempt.
import type { FakeKube } from '../helpers/fake-kube.js';
import { tokenOf, tokenSecretName } from '../../shared/argo/index.js';
import type { Fleet } from './fleet.js';
import type { History, IdeaIntent, StepRecord } from './history.js';
import { stageArtifacts, tagOf, TOPICS } from './ideas.js';
import { RECORD_HEADER, type RecordProducer } from './kafka.js';
import { backoff, send, sleep } from './net.js';
import { rngFor, type Rng } from './rng.js';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- Workflow JSON as the fake API stores it
type Obj = Record<string, any>;

/** The Workflow's parameters (`spec.arguments.parameters`), by name. */
export function paramsOf(workflow: Obj): Record<string, string> {
  const list = (workflow.spec?.arguments?.parameters ?? []) as { name: string; value?: string }[];
  return Object.fromEntries(list.map((p) => [p.name, p.value ?? '']));
}

function decoded(params: Record<string, string>, name: string): Obj {
  try {
    return JSON.parse(Buffer.from(params[name] ?? '', 'base64').toString('utf8')) as Obj;
  } catch {
    return {};
  }
}

/**
 * The run token of the Workflow's run: the ONE place the harness gets it — what the template
 * mounts, the `token` key of the Secret `<workflow>-token` dispatch creates before the Workflow
 * (as test/helpers/system.ts runTokenOf does). Read a few times: a create answered 500 may still be landing.
 */
export async function tokenFor(workflow: Obj, kube?: FakeKube): Promise<string> {
  if (!kube) return '';
  for (let i = 0; ; i++) {
    const name = tokenSecretName(String(workflow.metadata?.name));
    const token = tokenOf(kube.secrets(String(workflow.metadata?.namespace)).find((s) => s.metadata.name === name));
    if (token !== undefined) return token;
    if (i >= 20) return ''; // no Secret: the step's callbacks are refused (401), as in a cluster
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface StepRates {
  readonly kill: number;
  readonly fail: number;
  readonly drop: number;
  readonly duplicate: number;
  /** Of killed steps: Argo reports the dead pod on argo.workflows.completions. */
  readonly argoReport: number;
  /** Of killed steps: the pod comes back after its attempt was superseded. */
  readonly zombie: number;
}

export interface StepContext {
  readonly seed: number;
  readonly faults: boolean;
  readonly rates: StepRates;
  readonly history: History;
  readonly fleet: Fleet;
  readonly kube: FakeKube;
  readonly producer: RecordProducer;
}

interface Callback {
  type: 'started' | 'heartbeat' | 'artifact' | 'completed';
  body: Obj;
}

export interface ActiveStep {
  readonly workflow: string;
  readonly runId: string;
  readonly token: string;
  readonly stage: string;
  readonly path: string;
}

const FAILURE_FAULTS = new Set(['kill', 'fail', 'doom', 'drop-completed', 'drop-required', 'gave-up', 'bad-plan']);

/** The same task of the same idea, at this attempt (Workflow labels). */
function attemptKey(labels: Obj, attempt: string): string {
  return `${labels['facteur.dev/idea']}/${labels['facteur.dev/task']}/${attempt}`;
}

/** JSON with sorted keys (a stored answer comes back from jsonb in its own key order). */
export function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Obj).sort(([a], [b]) => a.localeCompare(b))) : x);
}

/** Faults that explain why an attempt failed (as opposed to ones it survives). */
export function explainsFailure(fault: string): boolean {
  return FAILURE_FAULTS.has(fault);
}

export class StepRunner {
  readonly active = new Map<string, ActiveStep>();
  /** Workflows created, by idea label / task label / attempt (zombies look for their successor). */
  private readonly created = new Set<string>();
  private readonly running = new Set<Promise<void>>();
  private unsubscribe: (() => void) | undefined;
  private stopped = false;

  constructor(private readonly ctx: StepContext) {}

  attach(): void {
    this.unsubscribe = this.ctx.kube.onCreate((wf) => {
      const name = String(wf.metadata?.name ?? '');
      this.ctx.history.creates.set(name, (this.ctx.history.creates.get(name) ?? 0) + 1);
      const context = { runId: String(wf.metadata?.annotations?.['facteur.dev/run-id'] ?? ''), context: Buffer.from(paramsOf(wf).retrievedContext ?? '', 'base64').toString('utf8') };
      this.ctx.history.contexts.set(name, [...(this.ctx.history.contexts.get(name) ?? []), context]);
      this.created.add(attemptKey(wf.metadata?.labels ?? {}, String(wf.metadata?.labels?.['facteur.dev/attempt'] ?? '')));
      // the hook runs before the API answers: the pod starts on its own time
      setImmediate(() => {
        const p = this.play(wf).catch((err) => void this.ctx.history.notes.push(`step ${name} crashed the harness double: ${(err as Error).stack}`)).finally(() => this.running.delete(p));
        this.running.add(p);
      });
    });
  }

  get busy(): number {
    return this.running.size;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await Promise.allSettled([...this.running]);
  }

  private async play(wf: Obj): Promise<void> {
    const { history: h, faults, rates, seed } = this.ctx;
    const params = paramsOf(wf);
    const name = String(wf.metadata.name);
    const stage = String(wf.metadata.labels?.['codex.stage'] ?? '');
    const runId = params.runId ?? '';
    const attempt = Number(params.attempt ?? 1);
    const body = decoded(params, 'eventBody');
    const taskKey = String(body.taskKey ?? '');
    const tag = tagOf(body.ideaTitle);
    const intent: IdeaIntent | undefined = tag ? h.ideas.get(tag) : undefined;
    const token = await tokenFor(wf, this.ctx.kube);
    const path = new URL(params.callbackUrl ?? 'http://invalid/').pathname;
    const r = rngFor(seed, 'step', tag ?? name, taskKey, attempt);
    const rec: StepRecord = { workflow: name, runId, tag, taskKey, stage, attempt, faults: [], startedAt: Date.now(), answers: [], outcome: 'running' };
    h.steps.set(name, rec);

    const doomed = intent?.doom?.kind === 'fail-task' && intent.doom.task === taskKey;
    if (doomed) this.markFault(rec, 'doom');
    if (intent?.doom?.kind === 'bad-plan' && stage === 'planning') this.markFault(rec, 'bad-plan');
    const fault = faults ? r.weighted([
      ['none', 1 - rates.kill - rates.fail - rates.drop - rates.duplicate],
      ['kill', rates.kill], ['fail', rates.fail], ['drop', rates.drop], ['duplicate', rates.duplicate],
    ] as const) : 'none';
    const failing = doomed || fault === 'fail';

    // the step's script: started, work (heartbeats when it is slow), artifacts, completed
    const slow = r.chance(0.05);
    const script: Callback[] = [{ type: 'started', body: {} }];
    // a runaway spender (governed load) reports its usage in $0.005 steps far past its
    // idea's budget: a heartbeat's `stop` must end it (budgets_overshot checks the sum)
    const runaway = intent?.gov?.kind === 'runaway' && stage === 'implementation' && taskKey === intent.plan.keys[0];
    const beats = runaway ? 40 : slow ? r.int(3, 5) : r.chance(0.2) ? 1 : 0;
    for (let i = 0; i < beats; i++) {
      const usage = runaway ? { usage: { inputTokens: 10 * (i + 1), outputTokens: 5 * (i + 1), costUsd: Number((0.005 * (i + 1)).toFixed(3)) } } : {};
      script.push({ type: 'heartbeat', body: { progress: (i + 1) / (beats + 1), ...usage } });
    }
    const artifacts = stageArtifacts(stage, taskKey, intent);
    for (const a of artifacts) script.push({ type: 'artifact', body: { artifact: a } });
    script.push({
      type: 'completed',
      body: failing
        ? { outcome: 'failed', error: { code: doomed ? 'chaos_doomed' : 'chaos_injected', message: `the harness made ${taskKey} attempt ${attempt} fail` } }
        : { outcome: 'succeeded', usage: { inputTokens: 100 + r.int(0, 900), outputTokens: 50 + r.int(0, 400), costUsd: runaway ? 0.205 : 0.01 } },
    });
    const killAt = fault === 'kill' ? r.int(0, script.length - 1) : -1;
    const dropAt = fault === 'drop' ? r.int(0, script.length - 1) : -1;
    const dupAt = fault === 'duplicate' ? r.int(0, script.length - 1) : -1;
    if (fault === 'fail') this.markFault(rec, 'fail');

    this.active.set(name, { workflow: name, runId, token, stage, path });
    try {
      await sleep(r.int(5, 60)); // pod scheduling
      let seq = 0;
      for (let i = 0; i < script.length; i++) {
        const cb = script[i]!;
        if (i === killAt) {
          this.markFault(rec, 'kill');
          h.fault('step_kill');
          rec.outcome = 'stopped';
          this.afterKill(wf, rec, token, path, seq, r);
          return;
        }
        seq++;
        if (i === dropAt) {
          // sent, never arrived (and facteur-step does not know)
          h.fault('callback_drop');
          const required = cb.type === 'completed' || (cb.type === 'artifact' && ['plan', 'review', 'integration', 'deploy'].includes(String(cb.body.artifact?.kind)));
          this.markFault(rec, cb.type === 'completed' ? 'drop-completed' : required ? 'drop-required' : `drop-${cb.type}`);
          continue;
        }
        if (cb.type !== 'started') await sleep(slow ? r.int(400, 900) : r.int(5, 60));
        const copies = i === dupAt ? 2 : 1;
        if (copies === 2) h.fault('callback_duplicate');
        const answers = await Promise.all(Array.from({ length: copies }, () => this.post(path, token, seq, cb, rec, r)));
        if (copies === 2) this.compareDuplicates(rec, seq, answers);
        const a = answers[0]!;
        if (a.status === 409) {
          rec.outcome = 'superseded';
          return;
        }
        if (a.status < 300 && (a.body as { stop?: unknown } | null)?.stop) {
          // the control plane stopped the run (an enforced budget): facteur-step exits 3 here
          rec.outcome = 'stopped';
          this.markFault(rec, 'budget-stop');
          h.budgetStops.add(runId);
          return;
        }
        if (a.status === 0) {
          rec.outcome = 'gave-up';
          this.markFault(rec, 'gave-up');
          return;
        }
        if (a.status >= 400) {
          rec.outcome = 'rejected';
          h.notes.push(`step ${name}: ${cb.type} (seq ${seq}) was answered ${a.status} ${JSON.stringify(a.body).slice(0, 200)}`);
          return;
        }
      }
      rec.outcome = dropAt === script.length - 1 ? 'stopped' : 'completed';
      // Argo's completion event for a workflow whose step did report: must change nothing
      if (rec.outcome === 'completed' && faults && r.chance(0.1)) void this.reportToArgo(wf, failing ? 'Failed' : 'Succeeded');
    } finally {
      this.active.delete(name);
    }
  }

  private markFault(rec: StepRecord, fault: string): void {
    rec.faults.push(fault);
    this.ctx.history.runFault(rec.runId, fault);
  }

  /** One callback, retried like facteur-step (network errors, 429, 5xx); status 0 = gave up. */
  private async post(path: string, token: string, seq: number, cb: Callback, rec: StepRecord, r: Rng): Promise<{ status: number; body: unknown }> {
    const sentAt = Date.now();
    const until = sentAt + 120_000;
    const trace: string[] = [];
    for (let attempt = 1; Date.now() < until && !this.stopped; attempt++) {
      const inst = await this.ctx.fleet.route('callbacks', r, 5000);
      if (!inst) continue;
      const t0 = Date.now();
      const tried = (what: string) => trace.push(`${inst.name} ${what} ${t0 - sentAt}+${Date.now() - t0}ms`);
      try {
        const res = await send(inst.url, {
          path,
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ seq, type: cb.type, at: new Date().toISOString(), ...cb.body }),
          timeoutMs: 30_000,
        });
        tried(String(res.status));
        this.ctx.history.status('callbacks<-steps', res.status);
        if (res.status === 429 || res.status >= 500) {
          await sleep(backoff(attempt, 50, 1000, r.next));
          continue;
        }
        const out = { status: res.status, body: res.json ?? res.text };
        rec.answers.push({ seq, type: cb.type, ...out, sentAt, at: Date.now(), tries: attempt, trace });
        return out;
      } catch (err) {
        tried((err as { code?: string }).code ?? 'error');
        this.ctx.history.status('callbacks<-steps', 'net');
        await sleep(backoff(attempt, 50, 1000, r.next));
      }
    }
    return { status: 0, body: 'gave up' };
  }

  private compareDuplicates(rec: StepRecord, seq: number, answers: { status: number; body: unknown }[]): void {
    const ok = answers.filter((a) => a.status === 200 || a.status === 202);
    const recorded = answers.filter((a) => a.status === 202).length;
    const bodies = new Set(ok.map((a) => canonical(a.body)));
    if (ok.length === answers.length && (recorded > 1 || bodies.size > 1)) {
      this.ctx.history.callbackMismatches.push(`${rec.workflow} seq ${seq}: the same callback twice was answered ${answers.map((a) => `${a.status} ${JSON.stringify(a.body)}`).join(' / ')}`);
    }
  }

  /** A dead pod: sometimes Argo says so; sometimes it wakes up after it was replaced. */
  private afterKill(wf: Obj, rec: StepRecord, token: string, path: string, seq: number, r: Rng): void {
    const { rates } = this.ctx;
    if (r.chance(rates.argoReport)) {
      void sleep(r.int(200, 1500)).then(() => this.reportToArgo(wf, 'Failed'));
    }
    if (r.chance(rates.zombie)) {
      this.ctx.history.fault('zombie_step');
      const p = this.zombie(wf, rec, token, path, seq + 1, r).finally(() => this.running.delete(p));
      this.running.add(p);
    }
  }

  private async zombie(wf: Obj, rec: StepRecord, token: string, path: string, seq: number, r: Rng): Promise<void> {
    const successor = attemptKey(wf.metadata.labels ?? {}, String(rec.attempt + 1));
    const until = Date.now() + 60_000;
    // wait until the attempt was superseded: a Workflow of the next attempt exists
    while (!this.stopped && Date.now() < until) {
      if (this.created.has(successor)) {
        const answer = await this.post(path, token, seq, { type: 'completed', body: { outcome: 'succeeded', message: 'zombie: back from the dead' } }, rec, r);
        if (answer.status !== 0) this.ctx.history.fencing.push({ workflow: rec.workflow, runId: rec.runId, status: answer.status, body: answer.body });
        return;
      }
      await sleep(250);
    }
  }

  /** Argo's controller: a workflow ended (argo.workflows.completions, through intake). */
  private async reportToArgo(wf: Obj, phase: 'Failed' | 'Succeeded'): Promise<void> {
    if (this.stopped) return;
    const name = String(wf.metadata.name);
    const recordId = `argo:${name}:${phase}`;
    this.ctx.history.produced.set(recordId, { topic: TOPICS.completions, tag: undefined, at: Date.now() });
    if (phase === 'Failed') this.ctx.history.fault('argo_reports_dead_pod');
    const value = JSON.stringify({
      metadata: { name, namespace: wf.metadata.namespace, uid: wf.metadata.uid, labels: wf.metadata.labels ?? {} },
      status: { phase, message: phase === 'Failed' ? 'chaos: the pod was killed' : 'ok', finishedAt: new Date().toISOString() },
    });
    await this.ctx.producer.produce(TOPICS.completions, { key: name, value, headers: { 'content-type': 'application/json', [RECORD_HEADER]: recordId } }).catch((err) => {
      this.ctx.history.notes.push(`could not produce Argo's completion of ${name}: ${(err as Error).message}`);
    });
  }
}
