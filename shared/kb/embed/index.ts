// The embedder the configuration names: the embedded local default when no provider URL is
// set (no network, deterministic), else the OpenAI-compatible provider under the version
// name the configuration gives it (shared/config/kb-store.ts requires one with a URL).
import type { Config } from '../../config/index.js';
import { createLocalEmbedder } from './local.js';
import { createOpenAiEmbedder, type OpenAiEmbedderOptions } from './openai.js';
import type { Embedder } from './types.js';

export { createLocalEmbedder, embedLocal, LOCAL_DIMENSIONS } from './local.js';
export { createOpenAiEmbedder, embeddingsEndpoint, retryAfterMs } from './openai.js';
export { vectorLiteral, type Embedder, type EmbeddingVersion } from './types.js';

export function createEmbedder(config: Pick<Config, 'kbStore'>, opts: OpenAiEmbedderOptions = {}): Embedder {
  const e = config.kbStore.embeddings;
  return e ? createOpenAiEmbedder(e, opts) : createLocalEmbedder();
}

const configured = new WeakMap<object, Embedder>();

/** The configuration's embedder, made once per configuration object (dispatch, status and the KB's pass share it). */
export function configuredEmbedder(config: Pick<Config, 'kbStore'>): Embedder {
  let e = configured.get(config);
  if (!e) configured.set(config, (e = createEmbedder(config)));
  return e;
}
