// Traceparent parsing and validation, table-driven: only a well-formed version-00 value with
// non-zero ids is taken; everything else is ignored and the idea gets a new root. And the
// CloudEvent reader takes it from the distributed-tracing extension first, never refusing an
// event for a malformed one.
import { describe, expect, it } from 'vitest';
import { parseCloudEvent } from '../../shared/events/cloudevent.js';
import {
  formatTraceparent,
  newRootTraceparent,
  parseTraceparent,
  runSpanId,
  runTraceparent,
  startTelemetry,
  traceIdOf,
  tracingWanted,
  validTraceparent,
} from '../../shared/telemetry/index.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';
const VALID = `00-${TRACE}-${SPAN}-01`;

describe('parseTraceparent', () => {
  it.each([
    ['a valid sampled one', VALID, { traceId: TRACE, spanId: SPAN, flags: 1 }],
    ['a valid unsampled one', `00-${TRACE}-${SPAN}-00`, { traceId: TRACE, spanId: SPAN, flags: 0 }],
  ])('takes %s', (_what, value, want) => {
    expect(parseTraceparent(value)).toEqual(want);
    expect(formatTraceparent(parseTraceparent(value)!)).toBe(value);
  });

  it.each([
    ['missing', undefined],
    ['not a string', 42],
    ['empty', ''],
    ['too long', `${VALID}-extra`],
    ['far too long', `00-${TRACE.repeat(1000)}-${SPAN}-01`],
    ['too short', VALID.slice(0, 54)],
    ['version ff (forbidden)', `ff-${TRACE}-${SPAN}-01`],
    ['a future version', `01-${TRACE}-${SPAN}-01`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero span id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case hex', VALID.toUpperCase()],
    ['a NUL inside', `00-${TRACE.slice(0, 31)}\u0000-${SPAN}-01`],
    ['a lone surrogate', `00-${TRACE.slice(0, 31)}\ud800-${SPAN}-01`],
    ['spaces around', ` ${VALID} `.slice(0, 55)],
    ['wrong separators', VALID.replace(/-/g, '_')],
    ['template braces', `00-{{workflow.name}}${TRACE.slice(18)}-${SPAN}-01`],
    ['non-hex characters', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
  ])('ignores %s', (_what, value) => {
    expect(parseTraceparent(value)).toBeUndefined();
    expect(validTraceparent(value)).toBeUndefined();
    expect(traceIdOf(value)).toBeNull();
  });

  it('makes new roots: valid, sampled, all different', () => {
    const roots = Array.from({ length: 50 }, () => newRootTraceparent());
    for (const r of roots) expect(parseTraceparent(r)).toMatchObject({ flags: 1 });
    expect(new Set(roots.map(traceIdOf)).size).toBe(50);
  });

  it('gives a run the idea\'s trace and a span id derived from the run id alone', () => {
    const run = '7c9e6679-7425-40de-944b-e07fc1f90ae7';
    expect(runTraceparent(VALID, run)).toBe(`00-${TRACE}-${runSpanId(run)}-01`);
    expect(runSpanId(run)).toMatch(/^[0-9a-f]{16}$/);
    expect(runSpanId(run)).toBe(runSpanId(run));
    expect(runSpanId(run)).not.toBe(runSpanId('8c9e6679-7425-40de-944b-e07fc1f90ae7'));
    expect(runTraceparent(null, run)).toBeUndefined();
    expect(runTraceparent('garbage', run)).toBeUndefined();
  });
});

describe('the traceparent of a received CloudEvent', () => {
  const binary = (headers: Record<string, string>) =>
    parseCloudEvent({
      method: 'POST', path: '/', query: new URLSearchParams(), body: Buffer.from('{}'),
      headers: { 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': '/s#codex.intent', 'ce-type': 't', 'content-type': 'application/json', ...headers },
    });
  const structured = (envelope: Record<string, unknown>, headers: Record<string, string> = {}) =>
    parseCloudEvent({
      method: 'POST', path: '/', query: new URLSearchParams(), headers: { 'content-type': 'application/cloudevents+json', ...headers },
      body: Buffer.from(JSON.stringify({ specversion: '1.0', id: '1', source: '/s', type: 't', data: {}, ...envelope })),
    });
  const other = `00-${'1'.repeat(32)}-${'2'.repeat(16)}-01`;

  it('takes the extension (ce-traceparent, the structured attribute) over the HTTP header', () => {
    expect(binary({ 'ce-traceparent': VALID, traceparent: other }).traceparent).toBe(VALID);
    expect(binary({ traceparent: other }).traceparent).toBe(other);
    expect(structured({ traceparent: VALID }, { traceparent: other }).traceparent).toBe(VALID);
    expect(structured({}, { traceparent: other }).traceparent).toBe(other);
  });

  it.each([
    ['too long', `${VALID}${'0'.repeat(10_000)}`],
    ['a wrong version', `ff-${TRACE}-${SPAN}-01`],
    ['all-zero ids', `00-${'0'.repeat(32)}-${'0'.repeat(16)}-00`],
    ['a percent-encoded NUL', `00-${TRACE}-${SPAN}-0%00`],
    ['malformed percent-encoding', `00-${TRACE}-${SPAN}-%E0%A4%A`],
  ])('ignores one with %s, and still accepts the event', (_what, value) => {
    const e = binary({ 'ce-traceparent': value });
    expect(e.traceparent).toBeUndefined();
    expect(e.extensions).not.toHaveProperty('traceparent');
  });

  it('ignores a structured traceparent that is not even a string', () => {
    expect(structured({ traceparent: { deep: [[['x']]] } }).traceparent).toBeUndefined();
    // (a NUL anywhere in a structured body refuses the body as a whole: shared/validation)
  });
});

describe('startTelemetry', () => {
  it.each([
    [{}, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: '' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' }, true],
    [{ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }, true],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }, false],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_TRACES_EXPORTER: 'none' }, false],
  ])('%j wants tracing: %s', (env, want) => {
    expect(tracingWanted(env)).toBe(want);
  });

  it('starts nothing without an endpoint', async () => {
    expect(await startTelemetry({}, 'facteur-test')).toBeUndefined();
  });
});
