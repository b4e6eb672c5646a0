// Retrieval into prompts (shared/kb/retrieve.ts): how many lessons a run is given, how many
// candidates are weighed for them, and how long dispatch waits for the query's embedding.
// Spread into the one schema of ./index.ts.
import { z } from 'zod';

// the same primitive as ./index.ts (which this file must not import: it imports this one)
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const kbRetrieveShape = {
  FACTEUR_KB_RETRIEVE: z.enum(['on', 'off']).default('on'),
  FACTEUR_KB_RETRIEVE_TOP_N: int(0, 50).default(5),
  FACTEUR_KB_RETRIEVE_CANDIDATES: int(1, 200).default(20),
  FACTEUR_KB_RETRIEVE_EMBED_TIMEOUT_MS: int(10, 30_000).default(300),
  FACTEUR_KB_RETRIEVE_QUERY_TIMEOUT_MS: int(50, 60_000).default(2000),
} as const;

type Shape = z.output<z.ZodObject<typeof kbRetrieveShape>>;

export interface KbRetrieveConfig {
  readonly kbRetrieve: {
    /** Off: runs get an empty retrievedContext and no decision is recorded. */
    readonly enabled: boolean;
    /** Lessons injected into a run's retrievedContext at most (always within 4096 bytes). */
    readonly topN: number;
    /** Candidates taken from each ranking (vector, full text, paths) before fusion. */
    readonly candidates: number;
    /** The query embedding's deadline; past it the retrieval is full-text only (`degraded`). */
    readonly embedTimeoutMs: number;
    /** statement_timeout of the retrieval's queries: a slow KB never holds a dispatch long. */
    readonly queryTimeoutMs: number;
  };
}

export function kbRetrieveConfig(p: Shape): KbRetrieveConfig {
  return {
    kbRetrieve: {
      enabled: p.FACTEUR_KB_RETRIEVE === 'on',
      topN: p.FACTEUR_KB_RETRIEVE_TOP_N,
      candidates: p.FACTEUR_KB_RETRIEVE_CANDIDATES,
      embedTimeoutMs: p.FACTEUR_KB_RETRIEVE_EMBED_TIMEOUT_MS,
      queryTimeoutMs: p.FACTEUR_KB_RETRIEVE_QUERY_TIMEOUT_MS,
    },
  };
}
