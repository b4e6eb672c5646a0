// The knowledge base's cockpit variables (shared/kb/health.ts, shared/kb/anomaly.ts,
// shared/monitoring/baseline.ts), spread into the one schema of ./index.ts, and what they
// become in the Config.
import { z } from 'zod';

// the same primitives as ./index.ts (which this file must not import: it imports this one)
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const kbCockpitShape = {
  // How much recent history GET /v1/kb/health and the KB page cover by default (?window= overrides).
  FACTEUR_KB_HEALTH_WINDOW_HOURS: int(1, 744).default(24),
  // How often the KB's pass runs the anomaly self-checks (synthetic cases).
  FACTEUR_KB_ANOMALY_INTERVAL_MINUTES: int(1, 10_080).default(60),
  // Monitoring's baseline check: a telemetry value is judged against the last N values of its
  // metric (repository-wide), once at least the minimum is known, by a robust z-score.
  FACTEUR_MONITOR_BASELINE_SAMPLES: int(5, 10_000).default(30),
  FACTEUR_MONITOR_BASELINE_MIN_SAMPLES: int(3, 10_000).default(8),
  FACTEUR_MONITOR_BASELINE_Z: z.coerce.number().min(1).max(100).default(3.5),
} as const;

type Shape = z.output<z.ZodObject<typeof kbCockpitShape>>;

export interface KbCockpitConfig {
  readonly kbCockpit: {
    readonly healthWindowS: number;
    readonly anomalyIntervalS: number;
    readonly baseline: {
      /** How many recent values of a metric make its baseline. */
      readonly samples: number;
      /** Fewer known values than this: no baseline yet, nothing judged. */
      readonly minSamples: number;
      /** |value − median| / (1.4826 × MAD) above this leaves the baseline. */
      readonly z: number;
    };
  };
}

export function kbCockpitConfig(p: Shape): KbCockpitConfig {
  return {
    kbCockpit: {
      healthWindowS: p.FACTEUR_KB_HEALTH_WINDOW_HOURS * 3600,
      anomalyIntervalS: p.FACTEUR_KB_ANOMALY_INTERVAL_MINUTES * 60,
      baseline: { samples: p.FACTEUR_MONITOR_BASELINE_SAMPLES, minSamples: p.FACTEUR_MONITOR_BASELINE_MIN_SAMPLES, z: p.FACTEUR_MONITOR_BASELINE_Z },
    },
  };
}
