// The retrieval's variables: registered (no unknown-variable warning), their defaults, and
// every bad value named at once.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { ValidationError } from '../../shared/errors/index.js';

describe('retrieval configuration', () => {
  it('defaults', () => {
    expect(loadConfig({}).kbRetrieve).toEqual({ enabled: true, topN: 5, candidates: 20, embedTimeoutMs: 300, queryTimeoutMs: 2000 });
  });

  it('set, and known (not reported as unknown)', () => {
    const c = loadConfig({ FACTEUR_KB_RETRIEVE: 'off', FACTEUR_KB_RETRIEVE_TOP_N: '3', FACTEUR_KB_RETRIEVE_CANDIDATES: '40', FACTEUR_KB_RETRIEVE_EMBED_TIMEOUT_MS: '150', FACTEUR_KB_RETRIEVE_QUERY_TIMEOUT_MS: '900' });
    expect(c.kbRetrieve).toEqual({ enabled: false, topN: 3, candidates: 40, embedTimeoutMs: 150, queryTimeoutMs: 900 });
    expect(c.unknownKeys.filter((k) => k.startsWith('FACTEUR_KB_RETRIEVE'))).toEqual([]);
  });

  it('bad values: every one named', () => {
    let err: unknown;
    try {
      loadConfig({ FACTEUR_KB_RETRIEVE: 'maybe', FACTEUR_KB_RETRIEVE_TOP_N: '-1', FACTEUR_KB_RETRIEVE_EMBED_TIMEOUT_MS: 'soon' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path).sort()).toEqual(['FACTEUR_KB_RETRIEVE', 'FACTEUR_KB_RETRIEVE_EMBED_TIMEOUT_MS', 'FACTEUR_KB_RETRIEVE_TOP_N']);
  });
});
