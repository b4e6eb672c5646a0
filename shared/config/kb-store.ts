// The knowledge base's store variables (shared/kb: the embedder, reflections, the background
// pass), spread into the one schema of ./index.ts, and what they become in the Config.
// No URL: the embedded feature-hashing embedder (shared/kb/embed/local.ts). A URL: an
// OpenAI-compatible `/v1/embeddings` provider, which then needs its model, dimension and a
// version name of its own (every stored vector carries it: two models never share one).
import { z } from 'zod';
import { Secret } from './secret.js';

// the same primitives as ./index.ts (which this file must not import: it imports this one)
const secret = z.string().min(1).transform((v) => new Secret(v));
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.enum(['true', 'false', '1', '0', 'yes', 'no']).transform((v) => v === 'true' || v === '1' || v === 'yes');
const httpUrl = z.string().url().refine((v) => !URL.canParse(v) || ['http:', 'https:'].includes(new URL(v).protocol), 'must be an http(s) URL');

/** What codex_kb.embedding_versions.version accepts. */
export const EMBEDDING_VERSION = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export const kbStoreShape = {
  FACTEUR_EMBEDDINGS_URL: httpUrl.optional(),
  FACTEUR_EMBEDDINGS_MODEL: z.string().trim().min(1).max(200).optional(),
  FACTEUR_EMBEDDINGS_DIMENSIONS: int(1, 4000).optional(),
  FACTEUR_EMBEDDINGS_VERSION: z.string().regex(EMBEDDING_VERSION, 'must be lower-case letters, digits, ".", "_" or "-", starting with a letter or digit, at most 63 characters (e.g. openai-te3s-1536-v1)').optional(),
  FACTEUR_EMBEDDINGS_API_KEY: secret.optional(),
  FACTEUR_EMBEDDINGS_BATCH: int(1, 2048).default(64),
  FACTEUR_EMBEDDINGS_TIMEOUT_MS: int(100, 600_000).default(10_000),
  FACTEUR_EMBEDDINGS_MAX_TOTAL_MS: int(100, 3_600_000).default(30_000),
  FACTEUR_EMBEDDINGS_SEND_DIMENSIONS: bool.default(false),
  FACTEUR_KB_REFLECTION_MAX_BYTES: int(1024, 1024 * 1024).default(8192),
  FACTEUR_KB_BATCH: int(1, 1000).default(50),
  FACTEUR_KB_RETRY_BASE_MS: int(0, 86_400_000).default(5000),
  FACTEUR_KB_RETRY_MAX_MS: int(0, 86_400_000).default(10 * 60_000),
} as const;

type Shape = z.output<z.ZodObject<typeof kbStoreShape>>;

/** Variables needed together: named when missing, so a half-configured provider stops the start. */
export function kbStoreProblems(p: Partial<Shape>): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  const needs = ['FACTEUR_EMBEDDINGS_MODEL', 'FACTEUR_EMBEDDINGS_DIMENSIONS', 'FACTEUR_EMBEDDINGS_VERSION'] as const;
  if (p.FACTEUR_EMBEDDINGS_URL !== undefined) {
    for (const key of needs) if (p[key] === undefined) out.push({ path: key, message: 'required with FACTEUR_EMBEDDINGS_URL' });
  } else {
    for (const key of [...needs, 'FACTEUR_EMBEDDINGS_API_KEY'] as const) if (p[key] !== undefined) out.push({ path: key, message: 'needs FACTEUR_EMBEDDINGS_URL (without it the embedded local embedder is used)' });
  }
  return out;
}

export interface EmbeddingsConfig {
  /** The provider's endpoint: a base (`…/v1`, `/embeddings` appended) or the full `…/embeddings` URL. */
  readonly url: string;
  readonly model: string;
  readonly dimensions: number;
  readonly version: string;
  readonly apiKey: Secret | undefined;
  /** Texts per request. */
  readonly batch: number;
  /** Per request. */
  readonly timeoutMs: number;
  /** All the attempts of one batch, waits included: past it the batch is left for a later pass. */
  readonly maxTotalMs: number;
  /** Send `dimensions` in the request (OpenAI's text-embedding-3 models shorten their vectors to it). */
  readonly sendDimensions: boolean;
}

export interface KbStoreConfig {
  readonly kbStore: {
    /** Undefined: the embedded local embedder. */
    readonly embeddings: EmbeddingsConfig | undefined;
    /** A reflection's stored content, in UTF-8 bytes, truncation marker included. */
    readonly reflectionMaxBytes: number;
    /** Backlog rows reflected, and reflections embedded, per batch. */
    readonly batch: number;
    /** A failed backlog row, or a failing embedder, waits base × 2^attempts (capped) before the next try. */
    readonly retryBaseMs: number;
    readonly retryMaxMs: number;
  };
}

export function kbStoreConfig(p: Shape): KbStoreConfig {
  const e = p.FACTEUR_EMBEDDINGS_URL && p.FACTEUR_EMBEDDINGS_MODEL && p.FACTEUR_EMBEDDINGS_DIMENSIONS && p.FACTEUR_EMBEDDINGS_VERSION
    ? {
        url: p.FACTEUR_EMBEDDINGS_URL,
        model: p.FACTEUR_EMBEDDINGS_MODEL,
        dimensions: p.FACTEUR_EMBEDDINGS_DIMENSIONS,
        version: p.FACTEUR_EMBEDDINGS_VERSION,
        apiKey: p.FACTEUR_EMBEDDINGS_API_KEY,
        batch: p.FACTEUR_EMBEDDINGS_BATCH,
        timeoutMs: p.FACTEUR_EMBEDDINGS_TIMEOUT_MS,
        maxTotalMs: p.FACTEUR_EMBEDDINGS_MAX_TOTAL_MS,
        sendDimensions: p.FACTEUR_EMBEDDINGS_SEND_DIMENSIONS,
      }
    : undefined;
  return {
    kbStore: {
      embeddings: e,
      reflectionMaxBytes: p.FACTEUR_KB_REFLECTION_MAX_BYTES,
      batch: p.FACTEUR_KB_BATCH,
      retryBaseMs: p.FACTEUR_KB_RETRY_BASE_MS,
      retryMaxMs: p.FACTEUR_KB_RETRY_MAX_MS,
    },
  };
}
