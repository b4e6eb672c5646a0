// Metrics and alerts: what Facteur's history says about throughput, latency, failures, cost
// and governance, computed from the database (./collect.ts) and served as Prometheus text or
// JSON (./routes.ts); and the alerts the dispatch tick raises as outbox events (./alerts.ts).
export { collectMetrics, type MetricsConfig } from './collect.js';
export { evaluateAlerts, ALERT_KINDS, type AlertKind, type AlertsConfig, type AlertsReport } from './alerts.js';
export { METRICS_ROUTES, parseMetricsQuery, type MetricsApiDeps } from './routes.js';
export { renderPrometheus, escapeLabelValue, PROMETHEUS_CONTENT_TYPE } from './prometheus.js';
export type { MetricFamily, MetricsSnapshot } from './model.js';
