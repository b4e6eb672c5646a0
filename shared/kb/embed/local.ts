// The embedded default embedder: no network, no model file, deterministic. It is feature
// hashing, not a language model — words, word pairs and character trigrams of the text are
// hashed (FNV-1a) into the vector's dimensions with a hashed sign, weighted by 1 + log(count),
// and the vector is scaled to unit length. Two texts sharing words and identifiers land close
// under cosine distance; synonyms do not. It is what `npm start` uses until a real model is
// configured (FACTEUR_EMBEDDINGS_URL: shared/kb/embed/openai.ts).
import type { Embedder } from './types.js';

export const LOCAL_DIMENSIONS = 384;

const STOP = new Set(['a', 'an', 'and', 'are', 'as', 'at', 'be', 'by', 'for', 'from', 'has', 'in', 'is', 'it', 'of', 'on', 'or', 'that', 'the', 'to', 'was', 'were', 'will', 'with']);

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Lower-cased words: letters and digits, identifiers split at `_`, `-`, `.`, `/` and camelCase. */
export function words(text: string): string[] {
  return text
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^\p{L}\p{N}]+/u)
    .filter((w) => w.length > 1 && !STOP.has(w));
}

/** The features of a text with their weights: words 1, word pairs 0.7, character trigrams 0.3. */
function features(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (f: string, w: number) => counts.set(f, (counts.get(f) ?? 0) + w);
  const ws = words(text.slice(0, 200_000));
  for (let i = 0; i < ws.length; i++) {
    add(`w:${ws[i]}`, 1);
    if (i + 1 < ws.length) add(`b:${ws[i]} ${ws[i + 1]}`, 0.7);
    const padded = ` ${ws[i]} `;
    for (let j = 0; j + 3 <= padded.length; j++) add(`c:${padded.slice(j, j + 3)}`, 0.3);
  }
  return counts;
}

export function embedLocal(text: string, dimensions = LOCAL_DIMENSIONS): number[] {
  const v = new Array<number>(dimensions).fill(0);
  for (const [f, count] of features(text)) {
    const h = fnv1a(f);
    const sign = (fnv1a(`s${f}`) & 1) === 0 ? 1 : -1;
    v[h % dimensions]! += sign * (1 + Math.log(count));
  }
  const norm = Math.hypot(...v);
  if (norm === 0) {
    // an empty text still has a direction (cosine distance needs a non-zero vector)
    v[0] = 1;
    return v;
  }
  return v.map((x) => x / norm);
}

export function createLocalEmbedder(dimensions = LOCAL_DIMENSIONS): Embedder {
  return {
    version: `local-hash-${dimensions}-v1`,
    provider: 'local',
    model: 'feature-hashing',
    dimensions,
    async embed(texts) {
      return texts.map((t) => embedLocal(t, dimensions));
    },
  };
}
