// The load: ideas decided from the seed (kind, repository, plan, whether a step will fail
// them on purpose), their Kafka records, and the artifacts their steps report.
import { encodeCodexTask } from '../../shared/intake/index.js';
import type { Governed, IdeaIntent, PlanShape } from './history.js';
import { RECORD_HEADER } from './kafka.js';
import { rngFor } from './rng.js';
import { STAGE_RESULT } from '../helpers/stage-results.js';

export const TOPICS = {
  intent: 'codex.intent',
  codexTasks: 'github.issues.codex.tasks',
  completions: 'argo.workflows.completions',
  events: 'facteur.events',
} as const;

export interface LoadShape {
  readonly ideas: number;
  readonly repositories: number;
  /** Faults on: some ideas are made to fail (a task fails every attempt, an invalid plan). */
  readonly faults: boolean;
  /** Governed load: some ideas get binding budgets, runaway spenders, or wait for votes. */
  readonly governed?: boolean;
}

export { STAGE_RESULT };

/** The label the chaos pack treats as high risk (test/chaos/governance.ts). */
export const RISK_LABEL = 'chaos-risk';

const TAG = /\[chaos:([A-Za-z0-9-]+)\]/;

export function tagOf(title: unknown): string | undefined {
  return typeof title === 'string' ? TAG.exec(title)?.[1] : undefined;
}

export function planIdeas(seed: number, shape: LoadShape): IdeaIntent[] {
  const out: IdeaIntent[] = [];
  for (let n = 0; n < shape.ideas; n++) {
    const r = rngFor(seed, 'idea', n);
    const tag = `c${seed}-${n}`;
    const kind = r.weighted([['spec', 80], ['spec-noid', 10], ['codex-task', 10]] as const);
    const repository = `chaos/repo-${r.int(0, shape.repositories - 1)}`;
    const size = r.int(2, 4);
    const keys = Array.from({ length: size }, (_, i) => `t${i + 1}`);
    const deps: [string, string][] = [];
    for (let i = 1; i < size; i++) {
      if (r.chance(0.7)) deps.push([keys[i]!, keys[r.int(0, i - 1)]!]);
      if (i >= 2 && r.chance(0.2)) {
        const other = keys[r.int(0, i - 1)]!;
        if (!deps.some(([a, b]) => a === keys[i] && b === other)) deps.push([keys[i]!, other]);
      }
    }
    const doomRoll = r.next();
    const doom = !shape.faults ? undefined
      : doomRoll < 0.03 ? { kind: 'fail-task' as const, task: r.pick(keys) }
      : doomRoll < 0.045 ? { kind: 'bad-plan' as const }
      : undefined;
    const issue = 1000 + n;
    // its own stream: a seed's ideas are the same with the governed load on or off
    const gov = shape.governed && kind !== 'codex-task' && !doom ? governed(rngFor(seed, 'gov', n), n) : undefined;
    out.push({
      tag, kind, repository, plan: { keys, deps }, reviewChanges: r.chance(0.1),
      ...(kind === 'spec' ? { specId: `chaos-${seed}-${n}` } : {}),
      ...(kind === 'codex-task' ? { deliveryId: `chaos-delivery-${seed}-${n}`, issueRef: `${repository}#${issue}` } : {}),
      ...(doom ? { doom } : {}),
      ...(gov ? { gov } : {}),
    });
  }
  return out;
}

/**
 * A budget of $0.035 cannot fit a life of at least six runs at $0.01 each (planning, two
 * tasks, review, integration, deploy): the claim must refuse before it overspends. A runaway
 * gets $0.06 and reports usage in $0.005 steps until a heartbeat stops it.
 */
function governed(r: ReturnType<typeof rngFor>, n: number): Governed | undefined {
  const roll = r.next();
  if (roll < 0.06) return { kind: 'budget', maxCostUsd: 0.035 };
  if (roll < 0.09) return { kind: 'runaway', maxCostUsd: 0.06 };
  if (roll < 0.19) return { kind: 'risky', initiator: `chaos-initiator-${n % 7}`, reject: r.chance(0.2) };
  return undefined;
}

export function titleOf(intent: IdeaIntent): string {
  return `Chaos idea ${intent.tag} [chaos:${intent.tag}]`;
}

/** The Kafka record that carries the idea, as the upstream producers would write it. */
export function ideaRecord(intent: IdeaIntent, recordId: string): { topic: string; key: string; value: string | Uint8Array; headers: Record<string, string> } {
  const r = rngFor(0, 'record', intent.tag);
  if (intent.kind === 'codex-task') {
    const issue = intent.issueRef!.split('#')[1]!;
    const value = encodeCodexTask({
      stage: 'planning', prompt: `Plan ${intent.tag}`, repository: intent.repository, base: 'main', head: `codex/issue-${issue}`,
      issueNumber: issue, issueUrl: `https://github.com/${intent.repository}/issues/${issue}`, issueTitle: titleOf(intent),
      issueBody: `Chaos load for ${intent.tag}`, sender: 'chaos-bot', deliveryId: intent.deliveryId!,
    });
    return {
      topic: TOPICS.codexTasks, key: intent.issueRef!, value,
      headers: { 'content-type': 'application/x-protobuf', 'x-protobuf-message': 'proompteng.froussard.v1.CodexTask', 'x-github-delivery': intent.deliveryId!, [RECORD_HEADER]: recordId },
    };
  }
  const spec = {
    ...(intent.specId ? { id: intent.specId } : {}),
    title: titleOf(intent),
    goal: `Exercise Facteur end to end (${intent.tag})`,
    successMetrics: ['every invariant holds'],
    acceptanceCriteria: ['the idea completes'],
    constraints: ['no real repository is touched'],
    repository: intent.repository,
    priority: r.pick(['low', 'normal', 'normal', 'high', 'urgent']),
    // a budget the runs' reported usage ($0.01 each) stays far under, unless the governed
    // load makes it bind: checked by budgets_overshot
    budget: { maxCostUsd: intent.gov && intent.gov.kind !== 'risky' ? intent.gov.maxCostUsd : 5, maxTokens: 1_000_000 },
    ...(intent.gov?.kind === 'risky' ? { labels: [RISK_LABEL], initiator: { kind: 'github', login: intent.gov.initiator } } : {}),
  };
  return { topic: TOPICS.intent, key: intent.specId ?? intent.tag, value: JSON.stringify(spec), headers: { 'content-type': 'application/json', [RECORD_HEADER]: recordId } };
}

/** The plan artifact (CONTRACTS §6) the planning step reports; `cyclic` makes it invalid. */
export function planArtifact(shape: PlanShape, cyclic = false): unknown {
  const deps = [...shape.deps];
  if (cyclic && shape.keys.length >= 2) deps.push([shape.keys[0]!, shape.keys[shape.keys.length - 1]!], [shape.keys[shape.keys.length - 1]!, shape.keys[0]!]);
  return {
    milestones: [{ id: 'M1', title: 'Ship' }],
    tasks: shape.keys.map((key) => ({
      key, title: `Task ${key}`, description: `Do ${key}`, acceptanceCriteria: [`${key} works`], paths: [`src/${key}`], risk: 'low',
      dependsOn: deps.filter(([a]) => a === key).map(([, b]) => ({ key: b, type: 'hard' })),
    })),
    acceptanceCriteria: ['everything works'],
    risks: [{ id: 'R1', description: 'scope', likelihood: 'low', impact: 'low', mitigation: 'anchor' }],
    openQuestions: [],
  };
}

/** What a step of this stage reports before `completed`. */
export function stageArtifacts(stage: string, taskKey: string, intent: IdeaIntent | undefined): { kind: string; data: unknown }[] {
  if (stage === 'planning') return [{ kind: 'plan', data: planArtifact(intent?.plan ?? { keys: ['t1'], deps: [] }, intent?.doom?.kind === 'bad-plan') }];
  if (stage === 'review' && intent?.reviewChanges && taskKey === 'review-1') {
    return [{ kind: 'review', data: { verdict: 'changes_requested', tasks: [intent.plan.keys[0]], summary: 'chaos: one more round' } }];
  }
  return STAGE_RESULT[stage] ?? [];
}
