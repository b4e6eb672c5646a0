// Spans of the control plane with the SDK registered (in memory), on real PostgreSQL and real
// HTTP: the intake span and the idea's stored trace, hostile traceparents ignored for a new
// root; the transaction wrapper's span, its error status and its after-commit hooks; the
// callbacks span joining a run's trace from the `traceparent` header.
import { randomBytes } from 'node:crypto';
import { SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { afterCommit, transaction } from '../../shared/db/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { inSpan, parseTraceparent, traceIdOf } from '../../shared/telemetry/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, serve, type Served } from '../helpers/http.js';
import { parentOf, recordSpans, type SpanRecorder } from '../helpers/spans.js';

let db: TestDb;
let srv: Served;
let rec: SpanRecorder;
const config = loadConfig({});

beforeAll(async () => {
  rec = recordSpans();
  db = await createTestDb();
  srv = await serve(createIntakeHandler({ sql: db.sql, config, log: silentLogger }));
});
afterAll(async () => {
  await srv.close();
  await rec.shutdown();
});
beforeEach(() => rec.reset());

const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const storedTrace = async (ideaId: string) => (await db.sql<{ trace_context: string | null }[]>`select trace_context from codex_kb.ideas where id = ${ideaId}`)[0]!.trace_context;

describe('intake', () => {
  it('records a SERVER span per event with the CloudEvents attributes, child of the sender, and stores its context on the idea', async () => {
    const traceId = hex(16);
    const parent = hex(8);
    const res = await postEvent(srv.url, { topic: 'codex.intent', id: 'evt-1', body: JSON.stringify(ideaSpec({ id: 'traced' })), headers: { 'ce-traceparent': `00-${traceId}-${parent}-01` } });
    expect(res.status).toBe(202);
    const [span] = rec.spans().filter((s) => s.name === 'facteur.intake');
    expect(span).toBeDefined();
    expect(span!.kind).toBe(SpanKind.SERVER);
    expect(span!.spanContext().traceId).toBe(traceId);
    expect(parentOf(span!)).toBe(parent);
    expect(span!.attributes).toMatchObject({
      'cloudevents.event_id': 'evt-1', 'cloudevents.event_type': 'dev.knative.kafka.event', 'cloudevents.event_subject': expect.stringMatching(/^partition:0#/),
      'cloudevents.event_source': expect.stringContaining('#codex.intent'), 'facteur.idea_id': res.body.ideaId, 'facteur.duplicate': false,
    });
    // the idea's trace context is the intake span's: its runs' stage spans hang under it
    expect(await storedTrace(res.body.ideaId)).toBe(`00-${traceId}-${span!.spanContext().spanId}-01`);
  });

  it.each([
    ['too long', `00-${hex(16)}-${hex(8)}-01${'0'.repeat(5000)}`],
    ['a wrong version', `ff-${hex(16)}-${hex(8)}-01`],
    ['all-zero ids', `00-${'0'.repeat(32)}-${'0'.repeat(16)}-01`],
    ['a NUL', `00-${hex(16)}-${hex(8)}-0%00`],
  ])('ignores a traceparent with %s: the idea is the root of a new trace', async (what, value) => {
    const res = await postEvent(srv.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: `hostile-${what.replace(/\W/g, '-')}` })), headers: { 'ce-traceparent': value } });
    expect(res.status).toBe(202);
    const [span] = rec.spans().filter((s) => s.name === 'facteur.intake');
    expect(parentOf(span!)).toBeUndefined();
    const stored = await storedTrace(res.body.ideaId);
    expect(parseTraceparent(stored)).toMatchObject({ traceId: span!.spanContext().traceId, spanId: span!.spanContext().spanId });
    expect(stored).not.toContain(value.slice(3, 35));
  });

  it('a redelivery keeps the idea\'s first trace', async () => {
    const body = JSON.stringify(ideaSpec({ id: 'redelivered' }));
    const first = await postEvent(srv.url, { topic: 'codex.intent', body, headers: { 'ce-traceparent': `00-${hex(16)}-${hex(8)}-01` } });
    const before = await storedTrace(first.body.ideaId);
    const again = await postEvent(srv.url, { topic: 'codex.intent', body, headers: { 'ce-traceparent': `00-${hex(16)}-${hex(8)}-01` } });
    expect(again.status).toBe(200);
    expect(await storedTrace(first.body.ideaId)).toBe(before);
    expect(traceIdOf(before)).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('transaction()', () => {
  it('is a CLIENT span inside the active trace, and runs after-commit hooks only once committed', async () => {
    const order: string[] = [];
    await inSpan('request', {}, async (request) => {
      const n = await transaction(db.sql, ['idea:a', 'idea:b'], async (tx) => {
        afterCommit(tx, () => order.push('hook'));
        const [row] = await tx<{ n: number }[]>`select 41 + 1 as n`;
        order.push('body');
        return row!.n;
      });
      order.push('returned');
      expect(n).toBe(42);
      const [span] = rec.spans().filter((s) => s.name === 'db.transaction');
      expect(span!.kind).toBe(SpanKind.CLIENT);
      expect(parentOf(span!)).toBe(request.spanContext().spanId);
      expect(span!.attributes).toMatchObject({ 'db.system.name': 'postgresql', 'facteur.db.locks': 2 });
      expect(span!.status.code).not.toBe(SpanStatusCode.ERROR);
    });
    expect(order).toEqual(['body', 'hook', 'returned']);
  });

  it('marks a rolled-back transaction as an error, rethrows unchanged, and drops its hooks', async () => {
    let hooked = false;
    const boom = new Error('boom');
    await inSpan('request', {}, async () => {
      await expect(transaction(db.sql, [], async (tx) => {
        afterCommit(tx, () => (hooked = true));
        await tx`insert into codex_kb.audit_log (actor, action, subject_type, subject_id) values ('t', 'test.rolled-back', 'test', 'x')`;
        throw boom;
      })).rejects.toBe(boom);
    });
    expect(hooked).toBe(false);
    expect(await db.sql`select 1 from codex_kb.audit_log where action = 'test.rolled-back'`).toHaveLength(0);
    const [span] = rec.spans().filter((s) => s.name === 'db.transaction');
    expect(span!.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'boom' });
  });

  it('makes no span outside any trace (a tick\'s transaction is no trace of its own)', async () => {
    expect(await transaction(db.sql, [], async (tx) => (await tx`select 1 as one`)[0]!.one)).toBe(1);
    expect(rec.spans()).toEqual([]);
  });
});
