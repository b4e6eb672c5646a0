// External facts that arrive through intake: Argo's workflow completions (which settle runs
// whose step never called back, e.g. a killed pod) and production telemetry (which decides
// whether a monitored deployment regressed). Each is recorded once: the ledger row is
// written in the same transaction as its effects.
import { z } from 'zod';
import type { Sender } from '../auth/index.js';
import { baselineBreaches, DEFAULT_BASELINE } from '../monitoring/baseline.js';
import type { Config } from '../config/index.js';
import { lockXact, transaction, type Sql, type Tx } from '../db/index.js';
import { moveIdea } from '../lifecycle/transitions.js';
import { parseJsonWith } from '../validation/index.js';

export interface FactOutcome {
  readonly duplicate: boolean;
  readonly body: Record<string, unknown>;
}

// the baseline's settings are optional: a caller built without them judges with the defaults
type FactConfig = Pick<Config, 'lifecycle' | 'topics' | 'policy'> & Partial<Pick<Config, 'kbCockpit'>>;

/** Where a fact came from; `sender` as shared/auth verified it. */
export interface FactSource {
  readonly source: string;
  readonly id: string;
  readonly topic: string;
  readonly sender?: Sender | undefined;
}

/** Claims the ledger key inside the transaction; undefined → already recorded (its outcome returned). */
async function claimKey(tx: Tx, key: string, kind: 'workflow_completion' | 'telemetry', ce: FactSource): Promise<Record<string, unknown> | undefined> {
  const inserted = await tx`
    insert into codex_kb.deliveries (delivery_key, kind, topic, ce_source, ce_id, sender)
    values (${key}, ${kind}, ${ce.topic}, ${ce.source}, ${ce.id}, ${ce.sender ? tx.json(ce.sender as never) : null})
    on conflict do nothing returning delivery_key`;
  if (inserted.length) return undefined;
  const [row] = await tx<{ outcome: Record<string, unknown> }[]>`select outcome from codex_kb.deliveries where delivery_key = ${key}`;
  return row?.outcome ?? {};
}

const completionSchema = z.object({
  metadata: z.object({
    name: z.string().min(1),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  status: z.object({ phase: z.string().min(1), startedAt: z.string().nullish(), finishedAt: z.string().nullish(), message: z.string().nullish() }),
});

const FINAL_PHASES = new Set(['Succeeded', 'Failed', 'Error']);

export async function recordWorkflowCompletion(
  sql: Sql, cfg: FactConfig, data: Buffer, ce: FactSource,
): Promise<FactOutcome> {
  const c = parseJsonWith(data, completionSchema, 'workflow completion');
  const key = `argo-completion:${c.metadata.uid ?? c.metadata.name}:${c.status.phase}`;
  return (await transaction(sql, [], async (tx) => {
    const seen = await claimKey(tx, key, 'workflow_completion', ce);
    if (seen) return { duplicate: true, body: seen };
    const [run] = await tx<{ id: string; idea_id: string; status: string }[]>`
      select id, idea_id, status from codex_kb.task_runs where external_run_id = ${c.metadata.name}`;
    let settled = false;
    if (run && FINAL_PHASES.has(c.status.phase) && (run.status === 'submitting' || run.status === 'running')) {
      await lockXact(tx, `idea:${run.idea_id}`);
      // loaded here, not at start: the lifecycle brings the policy engine and its packs' YAML
      // parser, which an intake instance's cold start would otherwise compile before its first answer
      const { settleRun } = await import('../lifecycle/advance.js');
      // The step never reported completion: whatever Argo says, the result is unknown, so
      // the run failed and is retried (a Succeeded workflow without a callback included).
      settled = false !== await settleRun(tx, cfg, run.id, {
        succeeded: false,
        errorCode: c.status.phase === 'Succeeded' ? 'no_completion_callback' : 'workflow_' + c.status.phase.toLowerCase(),
        errorMessage: c.status.message ?? `workflow ${c.metadata.name} ended ${c.status.phase} without a completion callback`,
        actor: 'argo',
      });
    }
    const body = { workflow: c.metadata.name, phase: c.status.phase, runId: run?.id ?? null, settled };
    await tx`update codex_kb.deliveries set idea_id = ${run?.idea_id ?? null}, outcome = ${tx.json(body)} where delivery_key = ${key}`;
    return { duplicate: false, body };
  }));
}

const telemetrySchema = z
  .object({
    id: z.string().min(1).max(200).optional(),
    ideaId: z.string().uuid().optional(),
    repository: z.string().regex(/^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/).optional(),
    version: z.string().max(200).optional(),
    metrics: z.record(z.string(), z.number()).optional(),
    metric: z.string().optional(),
    value: z.number().optional(),
    at: z.string().optional(),
  })
  .superRefine((v, ctx) => {
    if (!v.ideaId && !v.repository) ctx.addIssue({ code: 'custom', path: ['repository'], message: 'ideaId or repository is required' });
    if (!v.metrics && (v.metric === undefined || v.value === undefined)) ctx.addIssue({ code: 'custom', path: ['metrics'], message: 'metrics, or metric and value, are required' });
  });

export async function recordTelemetry(
  sql: Sql, cfg: FactConfig, data: Buffer, ce: FactSource,
): Promise<FactOutcome> {
  const t0 = parseJsonWith(data, telemetrySchema, 'telemetry');
  const metrics: Record<string, number> = { ...(t0.metrics ?? {}), ...(t0.metric !== undefined && t0.value !== undefined ? { [t0.metric]: t0.value } : {}) };
  const key = t0.id ? `telemetry:${t0.id}` : `ce:${ce.source}#${ce.id}`;
  const breaches: { metric: string; value: number; threshold: string; kind?: 'baseline' }[] = Object.entries(metrics).flatMap(([name, value]) => {
    const th = cfg.lifecycle.monitorThresholds[name];
    if (!th) return [];
    if (th.max !== undefined && value > th.max) return [{ metric: name, value, threshold: `> ${th.max}` }];
    if (th.min !== undefined && value < th.min) return [{ metric: name, value, threshold: `< ${th.min}` }];
    return [];
  });
  return (await transaction(sql, [], async (tx) => {
    const seen = await claimKey(tx, key, 'telemetry', ce);
    if (seen) return { duplicate: true, body: seen };
    // beside the fixed thresholds: a value that leaves its metric's recent baseline (shared/monitoring/baseline.ts)
    // (an ideaId naming no idea is kept out of the rows: they reference ideas)
    const [known] = t0.ideaId ? await tx<{ id: string; repository: string }[]>`select id, repository from codex_kb.ideas where id = ${t0.ideaId}` : [];
    const scope = t0.repository?.toLowerCase() ?? known?.repository;
    if (scope) {
      breaches.push(...await baselineBreaches(tx, cfg.kbCockpit?.baseline ?? DEFAULT_BASELINE, scope, metrics,
        { ideaId: known?.id ?? null, skip: new Set(breaches.map((b) => b.metric)) }));
    }
    const ideas = await tx<{ id: string }[]>`
      select id from codex_kb.ideas
       where status = 'monitoring'
         and (${t0.ideaId ?? null}::uuid is null or id = ${t0.ideaId ?? null}::uuid)
         and (${t0.repository?.toLowerCase() ?? null}::text is null or repository = ${t0.repository?.toLowerCase() ?? null})
         and (${t0.version ?? null}::text is null or deployed_version = ${t0.version ?? null})
       order by id`;
    const regressed: string[] = [];
    if (breaches.length) {
      for (const idea of ideas) {
        await lockXact(tx, `idea:${idea.id}`);
        if (!(await moveIdea(tx, idea.id, 'monitoring', 'remediation', `regression: ${breaches.map((b) => `${b.metric}=${b.value} (${b.threshold})`).join(', ')}`))) continue;
        await tx`
          insert into codex_kb.tasks (idea_id, key, stage, title, description, repository, branch, base, priority_rank, max_attempts, metadata)
          select i.id, 'remediation-' || (select count(*) + 1 from codex_kb.tasks where idea_id = i.id and key like 'remediation-%'),
                 'implementation', 'Remediate: ' || i.title,
                 'Production regressed after deploying ' || coalesce(i.deployed_version, '?') || ': ' || ${breaches.map((b) => `${b.metric}=${b.value} (threshold ${b.threshold})`).join('; ')},
                 i.repository, 'facteur/' || left(i.id::text, 8) || '/remediation-' || (select count(*) + 1 from codex_kb.tasks where idea_id = i.id and key like 'remediation-%'),
                 i.base, greatest(i.priority_rank, 2), ${cfg.lifecycle.maxAttempts},
                 jsonb_build_object('regression', ${tx.json(breaches as never)}::jsonb, 'deployedVersion', i.deployed_version)
            from codex_kb.ideas i where i.id = ${idea.id}`;
        await tx`
          insert into codex_kb.run_events (idea_id, event_type, actor, payload)
          values (${idea.id}, 'monitoring.regression_detected', 'telemetry', ${tx.json({ breaches } as never)})`;
        await tx`
          insert into codex_kb.outbox (type, source, subject, topic, key, data)
          values ('facteur.idea.regression', '/facteur/intake', ${idea.id}, ${cfg.topics.events}, ${idea.id},
                  ${tx.json({ ideaId: idea.id, breaches } as never)})`;
        regressed.push(idea.id);
      }
    }
    const body = { matched: ideas.length, breaches, remediation: regressed };
    await tx`update codex_kb.deliveries set outcome = ${tx.json(body as never)} where delivery_key = ${key}`;
    return { duplicate: false, body };
  }));
}
