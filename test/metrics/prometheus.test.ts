// The exposition format's escaping and values, table-driven, read back by the strict parser.
import { describe, expect, it } from 'vitest';
import { escapeLabelValue, renderPrometheus } from '../../shared/metrics/index.js';
import { parsePrometheus, valueOf } from './prom-parser.js';

describe('label values', () => {
  it.each([
    ['plain', 'acme/app', 'acme/app'],
    ['double quote', 'a"b', 'a\\"b'],
    ['backslash', 'a\\b', 'a\\\\b'],
    ['line feed', 'a\nb', 'a\\nb'],
    ['backslash then n', 'a\\nb', 'a\\\\nb'],
    ['braces and equals', '{le="1"}', '{le=\\"1\\"}'],
    ['carriage return kept', 'a\rb', 'a\rb'],
    ['emoji', 'ship 🚀', 'ship 🚀'],
    ['lone surrogate', 'a\ud800b', 'a\ufffdb'],
  ])('%s', (_name, value, escaped) => {
    expect(escapeLabelValue(value)).toBe(escaped);
    const text = renderPrometheus([{ name: 'm', help: 'h', type: 'gauge', samples: [{ labels: { v: value }, value: 1 }] }]);
    const back = parsePrometheus(text).series[0]!.labels.v;
    expect(back).toBe(value.replace(/\ud800/, '\ufffd'));
  });
});

describe('values and histograms', () => {
  it('NaN and infinities are spelled as the format says; HELP escapes backslash and line feed', () => {
    const text = renderPrometheus([{ name: 'm', help: 'two\nlines \\ here', type: 'gauge', samples: [
      { labels: { k: 'nan' }, value: NaN }, { labels: { k: 'inf' }, value: Infinity }, { labels: { k: 'ninf' }, value: -Infinity }, { labels: { k: 'n' }, value: 0.25 },
    ] }]);
    expect(text).toContain('# HELP m two\\nlines \\\\ here\n');
    expect(text).toContain('m{k="nan"} NaN\n');
    expect(text).toContain('m{k="inf"} +Inf\n');
    expect(text).toContain('m{k="ninf"} -Inf\n');
    expect(valueOf(parsePrometheus(text), 'm', { k: 'n' })).toBe(0.25);
  });

  it('a histogram is cumulative buckets ending with +Inf, then _sum and _count', () => {
    const text = renderPrometheus([{ name: 'h_seconds', help: 'h', type: 'histogram', samples: [
      { labels: { stage: 'review' }, buckets: [{ le: 1, count: 1 }, { le: 5, count: 3 }, { le: Infinity, count: 4 }], sum: 12.5, count: 4 },
    ] }]);
    expect(text.split('\n').slice(2, 7)).toEqual([
      'h_seconds_bucket{stage="review",le="1"} 1', 'h_seconds_bucket{stage="review",le="5"} 3', 'h_seconds_bucket{stage="review",le="+Inf"} 4',
      'h_seconds_sum{stage="review"} 12.5', 'h_seconds_count{stage="review"} 4',
    ]);
    expect(() => parsePrometheus(text)).not.toThrow();
  });

  it('the test parser is strict: it refuses what Prometheus would', () => {
    expect(() => parsePrometheus('m 1\n')).toThrow(/no TYPE/);
    expect(() => parsePrometheus('# TYPE m gauge\nm{a="x\\q"} 1\n')).toThrow(/unknown escape/);
    expect(() => parsePrometheus('# TYPE m gauge\nm 1\nm 2\n')).toThrow(/duplicate/);
    expect(() => parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 2\nh_sum 1\nh_count 2\n')).toThrow(/\+Inf/);
    expect(() => parsePrometheus('# TYPE h histogram\nh_bucket{le="1"} 3\nh_bucket{le="+Inf"} 2\nh_sum 1\nh_count 2\n')).toThrow(/cumulative/);
  });
});
