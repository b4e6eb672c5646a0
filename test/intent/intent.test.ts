import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors/index.js';
import { ANCHOR_MAX_BYTES, canonicalJson, deriveIntent, parseIdeaSpec } from '../../shared/intent/index.js';

const raw = (o: unknown) => Buffer.from(JSON.stringify(o));
const spec = {
  title: '  Add   dark mode ',
  goal: 'Users can switch theme',
  successMetrics: ['toggle works', 'toggle works', 'no flash'],
  labels: ['UI', 'ui', 'Frontend'],
  repository: 'Acme/Web',
};

describe('intent derivation', () => {
  it('normalizes deterministically', () => {
    const a = deriveIntent(parseIdeaSpec(raw(spec)), raw(spec));
    expect(a.intent.title).toBe('Add dark mode');
    expect(a.intent.successMetrics).toEqual(['toggle works', 'no flash']);
    expect(a.intent.labels).toEqual(['frontend', 'ui']);
    expect(a.intent.repository).toBe('acme/web');
    const b = deriveIntent(parseIdeaSpec(raw(spec)), raw(spec));
    expect(b).toEqual(a);
  });

  it('gives one intent digest for one meaning, and a raw digest per byte sequence', () => {
    const reordered = { repository: 'Acme/Web', labels: ['Frontend', 'ui'], goal: 'Users can switch theme', successMetrics: ['toggle works', 'no flash'], title: 'Add dark mode' };
    const a = deriveIntent(parseIdeaSpec(raw(spec)), raw(spec));
    const b = deriveIntent(parseIdeaSpec(raw(reordered)), raw(reordered));
    expect(b.intentDigest).toBe(a.intentDigest);
    expect(b.rawDigest).not.toBe(a.rawDigest);
    expect(a.anchor).toBe(b.anchor);
  });

  it('keeps the anchor within 2 KB however large and multi-byte the spec is', () => {
    const huge = {
      ...spec,
      goal: '目標'.repeat(4000),
      successMetrics: Array.from({ length: 50 }, (_, i) => `metric ${i} ${'é'.repeat(300)}`),
      constraints: Array.from({ length: 50 }, (_, i) => `constraint ${i}`),
    };
    const d = deriveIntent(parseIdeaSpec(raw(huge)), raw(huge));
    expect(Buffer.byteLength(d.anchor, 'utf8')).toBeLessThanOrEqual(ANCHOR_MAX_BYTES);
    expect(d.anchor.startsWith(`INTENT ${d.intentDigest.slice(0, 12)} · acme/web@main`)).toBe(true);
    expect(d.anchor).toContain('Goal: 目標');
    expect(d.anchor).toContain('…');
    expect(d.anchor).not.toMatch(/\uFFFD/);
  });

  it('lists every problem of a bad spec', () => {
    try {
      parseIdeaSpec(raw({ title: '', goal: 3, repository: 'x', priority: 'asap', autonomyLevel: 'L9', successMetrics: [] }));
      expect.unreachable();
    } catch (err) {
      const paths = (err as ValidationError).issues.map((i) => i.path).sort();
      expect(paths).toEqual(['autonomyLevel', 'goal', 'priority', 'repository', 'successMetrics', 'title']);
    }
  });

  it('writes canonical JSON with sorted keys', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 3 }], u: undefined })).toBe('{"a":[{"c":3,"d":2}],"b":1}');
  });
});
