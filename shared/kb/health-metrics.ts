// The knowledge base's figures in `/metrics` (and `/v1/metrics`): the same KbHealth the
// `GET /v1/kb/health` route and the dashboard's KB page read (./health.ts), as gauges. The
// windowed ones (retrievals, checks) cover the metrics' window.
import { gauge, type GaugeSample, type MetricFamily } from '../metrics/model.js';
import type { KbHealth } from './health.js';

const one = (value: number | null): GaugeSample[] => (value === null ? [] : [{ labels: {}, value }]);

export function kbFamilies(k: KbHealth): MetricFamily[] {
  const checks = k.checks.filter((c) => c.key.startsWith('kb.anomaly.'));
  const baseline = k.checks.filter((c) => c.key.startsWith('monitoring.'));
  return [
    gauge('facteur_kb_reflections', 'Reflections stored, by source (facteur, artifact, synthetic) and whether a later lesson superseded them.',
      Object.entries(k.reflections.bySource).map(([source, value]) => ({ labels: { source }, value }))),
    gauge('facteur_kb_vectors', 'Reflection vectors, by embedding version and reflection source.',
      k.reflections.byVersion.map((v) => ({ labels: { version: v.version, source: v.source }, value: v.count }))),
    gauge('facteur_kb_embedding_version_active', 'The active embedding version (1), beside the other registered versions (0).',
      k.versions.map((v) => ({ labels: { version: v.version, state: v.state }, value: v.active ? 1 : 0 }))),
    gauge('facteur_kb_embedding_backlog', 'Waiting work: reflections without a vector of the active version, ended runs not yet reflected on.',
      [{ labels: { kind: 'reflections' }, value: k.backlog.unembedded }, { labels: { kind: 'runs' }, value: k.backlog.runs }]),
    gauge('facteur_kb_retrievals', 'Retrievals made in the window, by whether they injected at least one lesson (hit) and whether they ran degraded.', [
      { labels: { outcome: 'hit' }, value: k.retrievals.hits },
      { labels: { outcome: 'miss' }, value: k.retrievals.count - k.retrievals.hits },
      { labels: { outcome: 'degraded' }, value: k.retrievals.degraded },
    ]),
    gauge('facteur_kb_retrieval_hit_rate', 'Share of the window\'s retrievals that injected at least one lesson (absent when none ran).', one(k.retrievals.hitRate)),
    gauge('facteur_kb_retrieval_latency_ms', 'Retrieval latency over the window, in milliseconds, by quantile (0.5, 0.99).', [
      ...(k.retrievals.latencyMs.p50 !== null ? [{ labels: { quantile: '0.5' }, value: k.retrievals.latencyMs.p50 }] : []),
      ...(k.retrievals.latencyMs.p99 !== null ? [{ labels: { quantile: '0.99' }, value: k.retrievals.latencyMs.p99 }] : []),
    ]),
    gauge('facteur_kb_reuse_rate', 'Share of live lessons (not superseded, not synthetic) injected into a run at least once.', one(k.reuse.rate)),
    gauge('facteur_kb_usefulness_lessons', 'Live lessons injected at least once, by usefulness bucket; never injected ones under bucket="never".', [
      ...k.usefulness.buckets.map((b) => ({ labels: { bucket: b.label }, value: b.count })),
      { labels: { bucket: 'never' }, value: k.usefulness.neverInjected },
    ]),
    gauge('facteur_kb_anomaly_checks', 'The KB\'s self-checks on synthetic cases in the window, by check and result (pass: the anomaly was detected).',
      checks.flatMap((c) => [{ labels: { check: c.key, result: 'pass' }, value: c.inWindow.pass }, { labels: { check: c.key, result: 'fail' }, value: c.inWindow.fail }])),
    gauge('facteur_kb_anomaly_detected', 'Whether the latest run of each self-check detected its planted anomaly (1) or not (0).',
      checks.map((c) => ({ labels: { check: c.key }, value: c.result === 'pass' ? 1 : 0 }))),
    gauge('facteur_monitoring_baseline_breaches', 'Telemetry values that left their recent baseline (robust z-score) in the window.',
      baseline.map((c) => ({ labels: { check: c.key }, value: c.inWindow.fail }))),
  ];
}
