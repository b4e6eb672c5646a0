// The embedded default: deterministic (same text, same vector, across calls and instances),
// unit length for any text (hostile ones included), and close for texts that share words.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createLocalEmbedder, embedLocal } from '../../shared/kb/embed/index.js';

const cosine = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);

describe('local feature-hashing embedder', () => {
  it('gives the same vector for the same text, of unit length, for any text', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (t) => {
        const a = embedLocal(t);
        const b = embedLocal(t);
        expect(a).toEqual(b);
        expect(a).toHaveLength(384);
        expect(Math.hypot(...a)).toBeCloseTo(1, 9);
      }),
      { numRuns: 300 },
    );
    for (const hostile of ['', '\u0000\u0000', '\ud800', "'; drop table x; --", '{{ secrets }}', '%E0%A4%A', 'a'.repeat(300_000)]) {
      expect(Math.hypot(...embedLocal(hostile))).toBeCloseTo(1, 9);
    }
  });

  it('is the same across instances and says its version', async () => {
    const [a] = await createLocalEmbedder().embed(['test fails because the fixture is missing']);
    const [b] = await createLocalEmbedder().embed(['test fails because the fixture is missing']);
    expect(a).toEqual(b);
    expect(createLocalEmbedder()).toMatchObject({ version: 'local-hash-384-v1', provider: 'local', dimensions: 384 });
  });

  it('puts texts sharing words closer than unrelated ones', () => {
    const q = embedLocal('vitest fails in src/parser.ts: unexpected token');
    const near = embedLocal('src/parser.ts test failed with unexpected token in vitest');
    const far = embedLocal('deploy the helm chart to the staging cluster');
    expect(cosine(q, near)).toBeGreaterThan(cosine(q, far) + 0.2);
  });
});
