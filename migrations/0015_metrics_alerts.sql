-- Metrics and alerts (shared/metrics/). The metrics are computed from these tables on every
-- scrape, so every instance answers the same; each query reads a bounded window through an
-- index, never the whole history (measured in test/metrics/metrics-scale.test.ts with 1 M
-- historical runs).

-- Runs by the time they were claimed: the window every run metric reads (submissions,
-- outcomes, queue latency, duration, retries, cost per repository).
create index task_runs_queued_idx on codex_kb.task_runs (queued_at);

-- Failed runs by the time they ended: the repeated-failure alert counts signatures in a
-- window of minutes. Partial, so succeeded runs never pay for it.
create index task_runs_failed_idx on codex_kb.task_runs (completed_at) where status = 'failed';

-- Regressions by the time they were detected (MTTR, the regression alert). run_events holds
-- every callback; the partial index holds only the rare regression rows.
create index run_events_regression_idx on codex_kb.run_events (emitted_at)
  where event_type = 'monitoring.regression_detected';

-- Enforced findings (policy blocks) and would-have-blocked ones, by time.
create index policy_findings_blocking_idx on codex_kb.policy_findings (created_at) where enforced or would_block;

-- facteur-agent reports a failure as `<message> [signature: <normalized line>]`
-- (shared/agent/cli.ts); the signature is what recurring failures are grouped by.
create function codex_kb.failure_signature(p_message text) returns text
language sql immutable as $$
  select substring(p_message from '\[signature: ([^\n]*)\]$')
$$;

-- One row per alert raised: the ledger that makes each occurrence of an alert one outbox
-- event, however many dispatch ticks evaluate it at once. `occurrence` names the occurrence
-- deterministically (an idea's stuck episode and window, a regression's event id, the
-- failure that made a signature reach its count), so a second evaluation of the same
-- occurrence conflicts on the unique key and writes nothing.
create table codex_kb.alerts (
  id bigint generated always as identity primary key,
  kind text not null check (kind in ('stuck', 'repeated_failure', 'regression')),
  subject text not null,
  occurrence text not null,
  idea_id uuid references codex_kb.ideas (id),
  repository text,
  event_id uuid not null,
  raised_at timestamptz not null default now(),
  unique (kind, subject, occurrence)
);
create index alerts_subject_idx on codex_kb.alerts (kind, subject, raised_at desc);
