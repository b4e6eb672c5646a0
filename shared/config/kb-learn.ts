// The knowledge base's learning loop (shared/kb/pairs.ts, finetune.ts, reembed.ts,
// promote.ts): its variables, spread into the one schema of ./index.ts, and what they become.
import { z } from 'zod';

// the same primitive as ./index.ts (which this file must not import: it imports this one)
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const kbLearnShape = {
  // The daily fine-tune trigger fires only when at least this many new preference pairs exist.
  FACTEUR_KB_FINETUNE_MIN_PAIRS: int(1, 1_000_000).default(50),
  // Where the dataset is fetched from: the status API's public base URL (the event names
  // `<base>/v1/kb/preference-pairs?since=…`); unset, FACTEUR_DASHBOARD_URL, else a bare path.
  FACTEUR_KB_EXPORT_BASE_URL: z.string().url().optional(),
  // Reflections embedded per transaction while re-embedding (each batch commits its cursor).
  FACTEUR_KB_REEMBED_BATCH: int(1, 5000).default(200),
  // The k of recall@k an embedding promotion is judged by on the labeled set.
  FACTEUR_KB_PROMOTION_K: int(1, 50).default(5),
} as const;

type Shape = z.output<z.ZodObject<typeof kbLearnShape>> & { readonly FACTEUR_DASHBOARD_URL?: string | undefined };

export interface KbLearnConfig {
  readonly kbLearn: {
    readonly finetuneMinPairs: number;
    /** Base URL of the preference-pair export, without a trailing slash; '' for a bare path. */
    readonly exportBaseUrl: string;
    readonly reembedBatch: number;
    readonly promotionK: number;
  };
}

export function kbLearnConfig(p: Shape): KbLearnConfig {
  return {
    kbLearn: {
      finetuneMinPairs: p.FACTEUR_KB_FINETUNE_MIN_PAIRS,
      exportBaseUrl: (p.FACTEUR_KB_EXPORT_BASE_URL ?? p.FACTEUR_DASHBOARD_URL ?? '').replace(/\/+$/, ''),
      reembedBatch: p.FACTEUR_KB_REEMBED_BATCH,
      promotionK: p.FACTEUR_KB_PROMOTION_K,
    },
  };
}
