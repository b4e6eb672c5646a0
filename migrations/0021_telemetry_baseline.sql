-- Telemetry values as they arrive, per repository and metric: the recent baseline that
-- monitoring judges a new value against (shared/monitoring/baseline.ts), beside the fixed
-- thresholds of FACTEUR_MONITOR_THRESHOLDS. Only the newest FACTEUR_MONITOR_BASELINE_SAMPLES of
-- a metric are ever read (newest first through the index), so the history's size does not
-- slow the judgement; a sample is written once per telemetry delivery (the delivery key
-- deduplicates redeliveries in the same transaction).
create table codex_kb.telemetry_samples (
  id bigint generated always as identity primary key,
  repository text not null,
  metric text not null,
  value double precision not null,
  idea_id uuid references codex_kb.ideas (id),
  created_at timestamptz not null default now()
);
create index telemetry_samples_metric_idx on codex_kb.telemetry_samples (repository, metric, id desc);
