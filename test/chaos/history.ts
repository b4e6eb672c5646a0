// The history: everything the harness did and everything it was answered, recorded as it
// happened. Invariants are checked on it (and on the database) at the end, Jepsen-style.
import type { FakeRemotes } from '../notify/fake-remotes.js';

export type FunctionName = 'intake' | 'dispatch' | 'callbacks' | 'status';
export const FUNCTION_NAMES: readonly FunctionName[] = ['intake', 'dispatch', 'callbacks', 'status'];

export interface PlanShape {
  readonly keys: readonly string[];
  /** [task, dependsOn] pairs, all `hard`. */
  readonly deps: readonly (readonly [string, string])[];
}

/** What the harness means an idea to be, decided from the seed before it is produced. */
export interface IdeaIntent {
  readonly tag: string;
  readonly kind: 'spec' | 'spec-noid' | 'codex-task';
  readonly specId?: string;
  readonly deliveryId?: string;
  /** `owner/repo#n`, lower-cased (CodexTasks). */
  readonly issueRef?: string;
  readonly repository: string;
  readonly plan: PlanShape;
  /** Made to end `blocked` on purpose: a task fails every attempt, or the plan is invalid. */
  readonly doom?: { readonly kind: 'fail-task'; readonly task: string } | { readonly kind: 'bad-plan' };
  /** The first review asks for changes (one more review round). */
  readonly reviewChanges: boolean;
  /** Governed load (test/chaos/governance.ts): what the chaos pack will make of this idea. */
  readonly gov?: Governed;
}

/**
 * `budget`: an Idea Spec budget its life cannot fit (blocked before it overspends);
 * `runaway`: its first implementation step keeps reporting usage until a heartbeat stops it;
 * `risky`: labelled high risk, so it waits for votes at pre-merge and pre-deploy, which the
 * voter double casts (`reject`: its first approval is rejected, so it ends blocked).
 */
export type Governed =
  | { readonly kind: 'budget'; readonly maxCostUsd: number }
  | { readonly kind: 'runaway'; readonly maxCostUsd: number }
  | { readonly kind: 'risky'; readonly initiator: string; readonly reject: boolean };

/** One vote the voter double cast and what it was answered. */
export interface VoteRecord {
  readonly approvalId: string;
  readonly ideaId: string;
  readonly voter: string;
  readonly decision: 'approve' | 'reject';
  /** Why the double cast it: the vote that should count, a concurrent copy, the initiator's, an outsider's. */
  readonly why: 'count' | 'duplicate' | 'self' | 'outsider';
  readonly status: number;
  readonly body: unknown;
}

export interface Answer {
  readonly copy: number;
  readonly status: number;
  readonly body: unknown;
  /** POSTs this copy took (retries included). */
  readonly attempts: number;
  readonly at: number;
}

/** One Kafka record as the KafkaSource double consumed it. */
export interface ConsumedRecord {
  readonly key: string;
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** The harness's id for the record it produced (a Kafka header); one produce may become several records. */
  readonly recordId: string | undefined;
  readonly tag: string | undefined;
  /** How many times it was consumed (a rebalance re-reads uncommitted records). */
  consumptions: number;
  /** Concurrent deliveries planned (the redelivery fault), over all consumptions. */
  copies: number;
  readonly answers: Answer[];
  /** Copies whose retries were still going when the harness stopped. */
  unresolved: number;
}

export interface StepRecord {
  readonly workflow: string;
  readonly runId: string;
  readonly tag: string | undefined;
  readonly taskKey: string;
  readonly stage: string;
  readonly attempt: number;
  readonly faults: string[];
  /** When the pod started, and each callback's final answer with when it was sent and answered. */
  readonly startedAt: number;
  readonly answers: { seq: number; type: string; status: number; body: unknown; sentAt: number; at: number; tries: number; trace: string[] }[];
  outcome: 'completed' | 'stopped' | 'superseded' | 'rejected' | 'gave-up' | 'running';
}

export interface HostileResult {
  readonly name: string;
  readonly fn: FunctionName;
  readonly request: string;
  /** Every answer in order (a 503 during a database outage is retried). */
  readonly statuses: number[];
  readonly final: number;
  /** Answers that break the rule (a 5xx that was not a 503 during an injected outage). */
  readonly violations: string[];
  readonly body: string;
}

export interface Window {
  readonly kind: 'postgres' | 'broker' | 'instance';
  readonly what: string;
  readonly start: number;
  end: number | undefined;
}

export interface LimitSample {
  readonly at: number;
  readonly global: number;
  readonly stages: Record<string, number>;
  readonly repository: readonly [string, number] | null;
  readonly idea: readonly [string, number] | null;
  readonly workspace: readonly [string, number] | null;
}

export interface ConsumedEvent {
  readonly ceId: string;
  readonly type: string;
  readonly contents: Set<string>;
  count: number;
  delivered: number;
}

export interface Limits {
  readonly global: number;
  readonly stages: Readonly<Record<string, number>>;
  readonly repository: number;
  readonly idea: number;
}

export class History {
  readonly startedAt = Date.now();
  /** The limits the instances run with (what the observer checks against). */
  limits: Limits = { global: Infinity, stages: {}, repository: Infinity, idea: Infinity };
  readonly ideas = new Map<string, IdeaIntent>();
  /** Records produced, by the harness's record id. */
  readonly produced = new Map<string, { topic: string; tag: string | undefined; at: number }>();
  /** Records consumed from the intake topics, by `topic/partition/offset`. */
  readonly records = new Map<string, ConsumedRecord>();
  readonly steps = new Map<string, StepRecord>();
  /** Faults that happened to a run (by run id): what explains its failure. */
  readonly runFaults = new Map<string, string[]>();
  /** Successful Workflow creates (stored objects) per name, at the fake API. */
  readonly creates = new Map<string, number>();
  /** The retrievedContext each created Workflow carried, by name: its run and its bytes. */
  readonly contexts = new Map<string, { runId: string; context: string }[]>();
  /** The fine-tune PingSource double: answers that said they fired, volleys sent, when the last one ended. */
  readonly finetune: { fired: { day: string; eventId: string; instance: string }[]; volleys: number; finalVolleyAt: Date | undefined } = { fired: [], volleys: 0, finalVolleyAt: undefined };
  readonly hostile: HostileResult[] = [];
  readonly windows: Window[] = [];
  readonly faults: Record<string, number> = {};
  readonly limitViolations: { sample: LimitSample; scope: string; count: number; limit: number }[] = [];
  limitSamples = 0;
  readonly maxSeen: Record<string, number> = {};
  /** facteur.events records consumed, by CloudEvent id. */
  readonly events = new Map<string, ConsumedEvent>();
  /** Instances that exited without being killed by the harness. */
  readonly crashes: string[] = [];
  /** Duplicate callbacks (same seq) answered differently. */
  readonly callbackMismatches: string[] = [];
  /** Callbacks of superseded attempts (zombies) and what they were answered. */
  readonly fencing: { workflow: string; runId: string; status: number; body: unknown }[] = [];
  /** Every answer the sources and doubles got, by function and status ('net' for no answer). */
  readonly statuses: Record<string, Record<string, number>> = {};
  readonly notes: string[] = [];
  /** Votes the voter double cast (governed load). */
  readonly votes: VoteRecord[] = [];
  /** Runs a heartbeat's `stop` ended (runaway spenders), by run id. */
  readonly budgetStops = new Set<string>();
  /** The FAKE GitHub and Discord the notifiers talk to (test/notify/fake-remotes.ts), when on. */
  remotes: FakeRemotes | undefined;
  /** The fake Kubernetes API's request log (for the story of a duplicated Workflow). */
  kubeRequests: readonly { method: string; path: string; time: number; body: unknown; injected?: unknown }[] = [];

  fault(name: string, n = 1): void {
    this.faults[name] = (this.faults[name] ?? 0) + n;
  }

  status(fn: string, status: number | 'net'): void {
    const byStatus = (this.statuses[fn] ??= {});
    byStatus[String(status)] = (byStatus[String(status)] ?? 0) + 1;
  }

  runFault(runId: string, fault: string): void {
    const list = this.runFaults.get(runId) ?? [];
    list.push(fault);
    this.runFaults.set(runId, list);
  }

  open(kind: Window['kind'], what: string): Window {
    const w: Window = { kind, what, start: Date.now(), end: undefined };
    this.windows.push(w);
    return w;
  }

  /** True if [from, to] overlaps a window of this kind (extended by `graceMs` after it closed). */
  during(kind: Window['kind'], from: number, to: number, graceMs = 0): boolean {
    return this.windows.some((w) => w.kind === kind && w.start <= to && (w.end === undefined ? Infinity : w.end + graceMs) >= from);
  }

  elapsed(): number {
    return (Date.now() - this.startedAt) / 1000;
  }
}
