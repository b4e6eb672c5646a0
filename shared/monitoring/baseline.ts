// Monitoring's baseline check: a telemetry value is judged against the recent values of the
// same metric in the same repository, not only against a fixed threshold — a robust z-score,
// |x − median| / (1.4826 × MAD), so one earlier spike does not widen the band the way a
// standard deviation would. Where the MAD is 0 (a metric that barely moves) the mean absolute
// deviation stands in; where that is 0 too, any other value leaves the baseline.
// A value leaving its baseline is a breach (a regression for the ideas in monitoring, as a
// threshold's) and a `monitoring.baseline` entry in policy_checks; every value is then added
// to the history (shared/intake/facts.ts calls this inside the delivery's transaction).
import type { Config } from '../config/index.js';
import type { Tx } from '../db/index.js';

export type BaselineConfig = Config['kbCockpit']['baseline'];
export const DEFAULT_BASELINE: BaselineConfig = Object.freeze({ samples: 30, minSamples: 8, z: 3.5 });

export interface BaselineVerdict {
  readonly median: number;
  readonly scale: number;
  /** Robust z-score of the value; Infinity when the history never moved and the value did. */
  readonly z: number;
  readonly outside: boolean;
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The value against its history; undefined while the history is shorter than the minimum. */
export function judgeBaseline(history: readonly number[], value: number, cfg: BaselineConfig): BaselineVerdict | undefined {
  if (history.length < cfg.minSamples) return undefined;
  const med = median(history);
  const deviations = history.map((x) => Math.abs(x - med));
  let scale = 1.4826 * median(deviations);
  if (scale === 0) scale = 1.2533 * (deviations.reduce((a, b) => a + b, 0) / deviations.length);
  const off = Math.abs(value - med);
  const z = scale === 0 ? (off === 0 ? 0 : Infinity) : off / scale;
  return { median: med, scale, z, outside: z > cfg.z };
}

export interface BaselineBreach {
  readonly metric: string;
  readonly value: number;
  readonly threshold: string;
  readonly kind: 'baseline';
}

const fmt = (n: number) => (Number.isFinite(n) ? String(Math.round(n * 1e6) / 1e6) : '∞');

/**
 * Judges each metric's value against its repository's recent values, records what left the
 * baseline in policy_checks, then adds every value to the history. `skip`: metrics a fixed
 * threshold already breached (said once, by the threshold).
 */
export async function baselineBreaches(tx: Tx, cfg: BaselineConfig, repository: string, metrics: Readonly<Record<string, number>>, o: { ideaId?: string | null; skip?: ReadonlySet<string> } = {}): Promise<BaselineBreach[]> {
  const out: BaselineBreach[] = [];
  for (const [metric, value] of Object.entries(metrics).sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (!Number.isFinite(value)) continue;
    const name = metric.slice(0, 200);
    const rows = await tx<{ value: number }[]>`
      select value from codex_kb.telemetry_samples where repository = ${repository} and metric = ${name} order by id desc limit ${cfg.samples}`;
    const verdict = judgeBaseline(rows.map((r) => Number(r.value)), value, cfg);
    if (verdict?.outside && !o.skip?.has(metric)) {
      const band = `baseline ${fmt(verdict.median)} ± ${cfg.z}×${fmt(verdict.scale)}`;
      out.push({ metric, value, threshold: band, kind: 'baseline' });
      await tx`
        insert into codex_kb.policy_checks (check_key, idea_id, result, message, details)
        values ('monitoring.baseline', ${o.ideaId ?? null}, 'warn',
                ${`${repository}: ${name}=${fmt(value)} left its recent ${band} (robust z ${fmt(verdict.z)})`.slice(0, 2000)},
                ${tx.json({ repository, metric: name, value, median: verdict.median, scale: verdict.scale, z: Number.isFinite(verdict.z) ? verdict.z : null, zMax: cfg.z, samples: rows.length })})`;
    }
    await tx`insert into codex_kb.telemetry_samples (repository, metric, value, idea_id) values (${repository}, ${name}, ${value}, ${o.ideaId ?? null})`;
  }
  return out;
}
