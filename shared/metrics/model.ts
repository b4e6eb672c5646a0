// The metrics as values: families of gauges and histograms, each sample with its labels.
// One model, two renderings: Prometheus text (./prometheus.ts) and JSON (`GET /v1/metrics`),
// so the two answers cannot disagree.
//
// Glossary: a *family* is one metric name with its help and type; a *sample* is one value of
// it for one set of labels; the *window* is the stretch of recent history every windowed
// figure covers (runs claimed in it, findings recorded in it, regressions detected in it).

export type Labels = Readonly<Record<string, string>>;

export interface GaugeSample {
  readonly labels: Labels;
  readonly value: number;
}

export interface Bucket {
  /** The upper bound, inclusive (Prometheus `le`); the last bucket is +Inf. */
  readonly le: number;
  /** Observations ≤ le (cumulative). */
  readonly count: number;
}

export interface HistogramSample {
  readonly labels: Labels;
  readonly buckets: readonly Bucket[];
  readonly sum: number;
  readonly count: number;
}

export type MetricFamily =
  | { readonly name: string; readonly help: string; readonly type: 'gauge'; readonly samples: readonly GaugeSample[] }
  | { readonly name: string; readonly help: string; readonly type: 'histogram'; readonly samples: readonly HistogramSample[] };

export interface MetricsSnapshot {
  readonly generatedAt: string;
  readonly window: { readonly seconds: number; readonly since: string };
  readonly families: readonly MetricFamily[];
}

/** Queue latency (claimed → the step reported started), in seconds. */
export const QUEUE_LATENCY_BUCKETS: readonly number[] = Object.freeze([1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600]);
/** Run duration (started → finished), in seconds. */
export const RUN_DURATION_BUCKETS: readonly number[] = Object.freeze([10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 43200]);

/** Cost per idea is labelled by idea id: only the most expensive ideas active in the window, to bound the series. */
export const TOP_IDEAS = 100;

export function gauge(name: string, help: string, samples: readonly GaugeSample[]): MetricFamily {
  return { name, help, type: 'gauge', samples };
}

export function histogram(name: string, help: string, samples: readonly HistogramSample[]): MetricFamily {
  return { name, help, type: 'histogram', samples };
}
