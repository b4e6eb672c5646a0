// The retrievedContext's format and budget, and the fusion's order: pure, so table-driven
// and property-tested (whatever the lessons — huge, many, multi-byte, lone surrogates,
// controls — the text is within 4096 UTF-8 bytes, cut between characters, the same bytes
// for the same input).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CONTEXT_BUDGET_BYTES, cutUtf8, formatContext, utf8Bytes, type ContextEntry } from '../../shared/kb/context.js';
import { rank, usefulnessWeight, type Candidate } from '../../shared/kb/fusion.js';
import { decide } from '../../shared/kb/retrieve.js';

const entry = (id: string, content: string, more: Partial<ContextEntry> = {}): ContextEntry => ({ id, stage: 'implementation', outcome: 'failed', paths: [], content, ...more });

const lesson = fc.record({
  id: fc.uuid(),
  stage: fc.option(fc.constantFrom('planning', 'implementation', 'review'), { nil: null }),
  outcome: fc.option(fc.string({ maxLength: 30 }), { nil: null }),
  paths: fc.array(fc.string({ maxLength: 300, unit: 'binary' }), { maxLength: 12 }),
  content: fc.oneof(
    fc.string({ maxLength: 2000, unit: 'binary' }),
    fc.string({ maxLength: 200, unit: fc.constantFrom('é', '日', '😀', '\ud800', '\u0000', 'a', ' ', '\n') }),
    fc.integer({ min: 1, max: 40_000 }).map((n) => '€'.repeat(n)),
  ),
});

describe('retrievedContext', () => {
  it('property: never over 4096 UTF-8 bytes, on a character boundary, deterministic', () => {
    fc.assert(
      fc.property(fc.array(lesson, { maxLength: 60 }), fc.string({ maxLength: 300 }), (entries, repository) => {
        const a = formatContext(repository, entries);
        const b = formatContext(repository, entries);
        expect(a.text).toBe(b.text);
        expect(a.bytes).toBe(utf8Bytes(a.text));
        expect(a.bytes).toBeLessThanOrEqual(CONTEXT_BUDGET_BYTES);
        // the text round-trips through UTF-8 unchanged except lone surrogates (encoded as U+FFFD)
        expect(Buffer.from(a.text, 'utf8').toString('utf8')).toBe(a.text.replace(/[\ud800-\udfff]/g, (c, i: number, s: string) => (isPaired(s, i) ? c : '\ufffd')));
        expect(a.included.length + a.overBudget.length).toBe(entries.length);
        if (entries.length > 0) expect(a.included.length).toBeGreaterThan(0);
      }),
      { numRuns: 300 },
    );
  });

  it('whole lessons preferred: one that does not fit is left out, a later one that fits goes in', () => {
    const f = formatContext('acme/web', [entry('a', 'short lesson one'), entry('b', 'x'.repeat(5000)), entry('c', 'short lesson three')]);
    expect(f.included).toEqual(['a', 'c']);
    expect(f.overBudget).toEqual(['b']);
    expect(f.text).toBe('# Lessons from earlier runs in acme/web (2)\n\n## 1. implementation, failed\nshort lesson one\n\n## 2. implementation, failed\nshort lesson three\n');
  });

  it('when not one fits whole, the first is cut between characters, with a marker', () => {
    const f = formatContext('acme/web', [entry('a', '😀'.repeat(3000), { paths: ['src/a.ts'] })]);
    expect(f.included).toEqual(['a']);
    expect(f.bytes).toBeLessThanOrEqual(4096);
    expect(f.bytes).toBeGreaterThan(4000);
    expect(f.text).toMatch(/😀\n\[… cut to fit the context budget\]\n$/);
    expect(f.text).toContain('## 1. implementation, failed — src/a.ts\n');
  });

  it.each([
    ['ascii', 'abcdef', 4, 'abcd'],
    ['two-byte', 'ééé', 5, 'éé'],
    ['four-byte', '😀😀', 7, '😀'],
    ['lone surrogate counts 3', '\ud800ab', 3, '\ud800'],
    ['fits', 'abc', 10, 'abc'],
  ])('cutUtf8 %s', (_name, s, max, expected) => {
    expect(cutUtf8(s, max)).toBe(expected);
  });

  it('controls in stored lessons become spaces (the prompt stays readable)', () => {
    expect(formatContext('a/b', [entry('a', 'x\u0000y\u001bz')]).text).toContain('x y z');
  });
});

const cand = (id: string, more: Partial<Candidate> = {}): Candidate => ({
  id, content: `lesson ${id}`, contentDigest: null, stage: 'implementation', outcome: 'failed', paths: [], usefulness: 0,
  vectorRank: null, vectorDistance: null, textRank: null, textScore: null, pathOverlap: false, ...more,
});

describe('fusion', () => {
  it('reciprocal rank of both rankings; found by both beats found by one', () => {
    const r = rank([cand('a', { vectorRank: 1 }), cand('b', { vectorRank: 2, textRank: 2 }), cand('c', { textRank: 1 })]);
    expect(r.map((c) => c.id)).toEqual(['b', 'a', 'c']);
    expect(r[0]!.fused).toBeCloseTo(2 / 62);
  });

  it('lessons on the task\'s paths first, then by score; ties by id', () => {
    const r = rank([cand('z', { vectorRank: 1 }), cand('y', { pathOverlap: true, vectorRank: 9 }), cand('b', { textRank: 3 }), cand('a', { textRank: 3 })]);
    expect(r.map((c) => c.id)).toEqual(['y', 'z', 'a', 'b']);
  });

  it('usefulness weighs: a lesson that keeps coming with failures sinks below a neutral one', () => {
    expect(usefulnessWeight(-1)).toBe(0.5);
    expect(usefulnessWeight(1)).toBe(1.5);
    expect(usefulnessWeight(Number.NaN)).toBe(1);
    const r = rank([cand('bad', { vectorRank: 1, usefulness: -0.5 }), cand('ok', { vectorRank: 3 })]);
    expect(r.map((c) => c.id)).toEqual(['ok', 'bad']);
  });

  it.each([
    ['same stored digest', { contentDigest: 'd1' }, { contentDigest: 'd1', content: 'different words entirely' }],
    ['same text but case, spaces and numbers', { content: 'Retry the upload 3 times' }, { content: 'retry  the upload 5 times' }],
    ['near-identical words', { content: 'a b c d e f g h i j k l m n o p q r s t' }, { content: 'a b c d e f g h i j k l m n o p q r s t u' }],
  ])('duplicates: %s', (_name, first, second) => {
    const r = rank([cand('a', { vectorRank: 1, ...first }), cand('b', { vectorRank: 2, ...second })]);
    expect(r.map((c) => c.duplicateOf)).toEqual([null, 'a']);
    const d = decide('acme/web', r, 5);
    expect(d.injected).toEqual(['a']);
    expect(d.candidates.map((c) => c.reason)).toEqual(['injected', 'duplicate']);
  });

  it('beyond the top N: not injected, reason rank', () => {
    const d = decide('acme/web', rank([cand('a', { vectorRank: 1, content: 'first thing' }), cand('b', { vectorRank: 2, content: 'other matter' })]), 1);
    expect(d.candidates.map((c) => [c.id, c.injected, c.reason])).toEqual([['a', true, 'injected'], ['b', false, 'rank']]);
  });
});

function isPaired(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff) return i + 1 < s.length && s.charCodeAt(i + 1) >= 0xdc00 && s.charCodeAt(i + 1) <= 0xdfff;
  return i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
}
