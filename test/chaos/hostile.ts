// Hostile requests, mixed into the load: malformed and binary bodies, invalid UTF-8,
// Argo templating in a field, 5 000-deep nesting, unknown topics, wrong content types,
// callbacks carrying NUL or lone surrogates, malformed percent-encoding in paths. Every
// answer is recorded; a 5xx is a violation unless it is a 503 during an injected database
// outage, which is retried until it gets its real answer.
import { randomUUID } from 'node:crypto';
import type { Fleet } from './fleet.js';
import type { FunctionName, History } from './history.js';
import { TOPICS } from './ideas.js';
import { send, sleep, type Sent } from './net.js';
import { rngFor, type Rng } from './rng.js';
import type { ActiveStep } from './steps.js';

export interface HostileContext {
  readonly rng: Rng;
  readonly n: number;
  /** A step in progress (its run is active), when there is one. */
  readonly step: ActiveStep | undefined;
  readonly statusToken: string;
}

export interface HostileCase {
  readonly name: string;
  readonly fn: FunctionName;
  /** undefined: cannot be built right now (no active run); tried again later. */
  build(ctx: HostileContext): Sent | undefined;
}

const DEPTH = 5000;
const deepArray = () => '['.repeat(DEPTH) + ']'.repeat(DEPTH);
const deepObject = () => '{"a":'.repeat(DEPTH) + '1' + '}'.repeat(DEPTH);

function ce(topic: string, n: number, contentType: string | undefined, extra: Record<string, string> = {}): Record<string, string> {
  return {
    'ce-specversion': '1.0', 'ce-type': 'dev.knative.kafka.event',
    'ce-source': `/apis/v1/namespaces/facteur/kafkasources/intake#${topic}`,
    'ce-id': `partition:9/offset:${n}`, 'ce-time': new Date().toISOString(),
    ...(contentType ? { 'content-type': contentType } : {}),
    ...extra,
  };
}

const spec = (n: number, over: Record<string, unknown> = {}) => JSON.stringify({
  id: `hostile-${n}`, title: `Hostile ${n}`, goal: 'break things', successMetrics: ['nothing breaks'], repository: 'chaos/hostile', ...over,
});

function bytes(rng: Rng, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => rng.int(0, 255)));
}

const intake = (name: string, build: (c: HostileContext) => Sent | undefined): HostileCase => ({ name: `intake.${name}`, fn: 'intake', build });
const callbacks = (name: string, build: (c: HostileContext) => Sent | undefined): HostileCase => ({ name: `callbacks.${name}`, fn: 'callbacks', build });
const status = (name: string, build: (c: HostileContext) => Sent | undefined): HostileCase => ({ name: `status.${name}`, fn: 'status', build });
const dispatch = (name: string, build: (c: HostileContext) => Sent | undefined): HostileCase => ({ name: `dispatch.${name}`, fn: 'dispatch', build });

/** A callback with the step's real token, to its real run: only the body is hostile. */
function onRun(c: HostileContext, body: string | Buffer, contentType = 'application/json'): Sent | undefined {
  if (!c.step) return undefined;
  return { path: c.step.path, headers: { authorization: `Bearer ${c.step.token}`, 'content-type': contentType }, body };
}
const seq = (c: HostileContext) => 1_000_000 + c.n;

export const HOSTILE_CASES: readonly HostileCase[] = [
  intake('malformed-json', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: '{"title": nope' })),
  intake('nul-body', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: Buffer.from([0]) })),
  intake('random-bytes', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: bytes(c.rng, 512) })),
  intake('random-protobuf', (c) => ({ path: '/', headers: ce(TOPICS.codexTasks, c.n, 'application/x-protobuf'), body: bytes(c.rng, 256) })),
  intake('invalid-utf8', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: Buffer.concat([Buffer.from(`{"id":"hostile-u${c.n}","title":"`), Buffer.from([0xff, 0xfe, 0xc3, 0x28]), Buffer.from('","goal":"g","successMetrics":["m"],"repository":"chaos/hostile"}')]) })),
  intake('template-in-base', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: spec(c.n, { id: `hostile-tpl-${c.n}`, base: '{{workflow.name}}' }) })),
  intake('template-in-title', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: spec(c.n, { id: `hostile-tpl-t${c.n}`, title: '{{workflow.parameters.runToken}}' }) })),
  intake('deep-nesting-array', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: `{"id":"hostile-deep-${c.n}","title":"t","goal":"g","successMetrics":["m"],"repository":"chaos/hostile","constraints":${deepArray()}}` })),
  intake('deep-nesting-object', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: deepObject() })),
  intake('deep-nesting-budget', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: `{"id":"hostile-deepb-${c.n}","title":"t","goal":"g","successMetrics":["m"],"repository":"chaos/hostile","budget":${deepObject()}}` })),
  intake('unknown-topic', (c) => ({ path: '/', headers: ce('no.such.topic', c.n, 'application/json'), body: spec(c.n) })),
  intake('text-plain', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'text/plain'), body: spec(c.n) })),
  intake('json-on-protobuf-topic', (c) => ({ path: '/', headers: ce(TOPICS.codexTasks, c.n, 'application/json'), body: spec(c.n) })),
  intake('no-content-type', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, undefined), body: spec(c.n) })),
  intake('structured-garbage', (c) => ({ path: '/', headers: { 'content-type': 'application/cloudevents+json' }, body: bytes(c.rng, 300) })),
  intake('structured-bad-base64', (c) => ({ path: '/', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', id: `h${c.n}`, source: `/x#${TOPICS.intent}`, type: 't', datacontenttype: 'application/json', data_base64: '%%%not base64\u0000' }) })),
  intake('structured-deep', (c) => ({ path: '/', headers: { 'content-type': 'application/cloudevents+json' }, body: `{"specversion":"1.0","id":"hd${c.n}","source":"/x#${TOPICS.intent}","type":"t","data":${deepObject()}}` })),
  intake('nul-in-title', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: spec(c.n, { id: `hostile-nul-${c.n}`, title: 'a\u0000b' }) })),
  intake('lone-surrogate', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: `{"id":"hostile-sur-${c.n}","title":"\\ud800","goal":"g","successMetrics":["m"],"repository":"chaos/hostile"}` })),
  intake('bad-ce-attributes', (c) => ({ path: '/', headers: { ...ce(TOPICS.intent, c.n, 'application/json'), 'ce-specversion': '0.3', 'ce-id': '' }, body: spec(c.n) })),
  intake('nul-in-ce-id', (c) => ({ path: '/', headers: { ...ce(TOPICS.intent, c.n, 'application/json'), 'ce-id': `%00${c.n}` }, body: spec(c.n, { id: undefined }) })),
  intake('oversize', (c) => ({ path: '/', headers: ce(TOPICS.intent, c.n, 'application/json'), body: spec(c.n, { goal: 'x'.repeat(1_300_000) }) })),
  intake('completion-nul', (c) => ({ path: '/', headers: ce(TOPICS.completions, c.n, 'application/json'), body: JSON.stringify({ metadata: { name: 'a\u0000b', uid: '\u0000' }, status: { phase: 'Failed', message: '\ud800' } }) })),
  intake('telemetry-garbage', (c) => ({ path: '/', headers: ce('codex.telemetry', c.n, 'application/json'), body: `{"id":"\\u0000","repository":"chaos/hostile","metrics":{"error_rate":1e999}}` })),
  intake('percent-path', (c) => ({ path: '/%ZZ', headers: ce(TOPICS.intent, c.n, 'application/json'), body: '{' })),

  callbacks('percent-run-id', (c) => ({ path: '/v1/runs/%ZZ/events', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: JSON.stringify({ seq: seq(c), type: 'heartbeat' }) })),
  callbacks('percent-truncated-utf8', (c) => ({ path: '/v1/runs/%E0%A4%A/events', headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: JSON.stringify({ seq: seq(c), type: 'heartbeat' }) })),
  callbacks('not-a-uuid', (c) => ({ path: `/v1/runs/not-a-run-${c.n}/events`, headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{}' })),
  callbacks('unknown-run', () => ({ path: `/v1/runs/${randomUUID()}/events`, headers: { authorization: 'Bearer x', 'content-type': 'application/json' }, body: '{"seq":1,"type":"started"}' })),
  callbacks('bad-token', (c) => (c.step ? { path: c.step.path, headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/json' }, body: JSON.stringify({ seq: seq(c), type: 'completed', outcome: 'succeeded' }) } : undefined)),
  callbacks('nul-in-message', (c) => onRun(c, JSON.stringify({ seq: seq(c), type: 'heartbeat', message: 'before\u0000after' }))),
  callbacks('lone-surrogate-message', (c) => onRun(c, `{"seq":${seq(c)},"type":"heartbeat","message":"\\udc00 alone"}`)),
  callbacks('nul-in-artifact', (c) => onRun(c, JSON.stringify({ seq: seq(c), type: 'artifact', artifact: { kind: 'reflection', data: { note: '\u0000' } } }))),
  callbacks('lone-surrogate-artifact', (c) => onRun(c, `{"seq":${seq(c)},"type":"artifact","artifact":{"kind":"reflection","data":{"note":"\\ud83d"}}}`)),
  callbacks('deep-artifact', (c) => onRun(c, `{"seq":${seq(c)},"type":"artifact","artifact":{"kind":"reflection","data":${deepArray()}}}`)),
  callbacks('nul-body', (c) => onRun(c, Buffer.from([0]))),
  callbacks('invalid-utf8', (c) => onRun(c, Buffer.concat([Buffer.from(`{"seq":${seq(c)},"type":"heartbeat","message":"`), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]))),
  callbacks('malformed-json', (c) => onRun(c, '{"seq": 1, "type": ')),
  callbacks('random-bytes', (c) => onRun(c, bytes(c.rng, 256), 'application/octet-stream')),
  callbacks('huge-seq', (c) => onRun(c, JSON.stringify({ seq: 2 ** 53, type: 'heartbeat' }))),
  callbacks('bad-timestamp', (c) => onRun(c, JSON.stringify({ seq: seq(c), type: 'heartbeat', at: '2024-13-45T99:99:99Z' }))),

  status('percent-idea', () => ({ method: 'GET', path: '/v1/ideas/%ZZ' })),
  status('percent-run', () => ({ method: 'GET', path: '/v1/runs/%E0%A4%A' })),
  status('bad-limit', () => ({ method: 'GET', path: '/v1/ideas?limit=abc' })),
  status('bad-cursor', () => ({ method: 'GET', path: '/v1/ideas?cursor=%ZZ%00' })),
  status('nul-status', () => ({ method: 'GET', path: '/v1/ideas?status=%00' })),
  status('action-nul-body', () => ({ method: 'POST', path: `/v1/ideas/${randomUUID()}/pause`, headers: { 'content-type': 'application/json' }, body: Buffer.from([0]) })),
  status('action-percent', () => ({ method: 'POST', path: '/v1/ideas/%ZZ/pause', headers: { 'content-type': 'application/json' }, body: '{}' })),
  status('approval-percent', () => ({ method: 'POST', path: '/v1/approvals/%ZZ/approve', body: '' })),

  dispatch('garbage-event', (c) => ({ path: '/', headers: { ...ce(TOPICS.events, c.n, 'application/json'), 'ce-source': '/facteur/chaos' }, body: bytes(c.rng, 200) })),
  dispatch('structured-garbage', (c) => ({ path: '/', headers: { 'content-type': 'application/cloudevents+json' }, body: bytes(c.rng, 200) })),
  dispatch('deep-event', (c) => ({ path: '/', headers: { ...ce(TOPICS.events, c.n, 'application/json'), 'ce-source': '/facteur/chaos' }, body: deepObject() })),
  dispatch('percent-path', () => ({ path: '/%ZZ', headers: { 'content-type': 'application/json' }, body: '{}' })),
  dispatch('nul-body', () => ({ path: '/', headers: { 'content-type': 'application/json' }, body: Buffer.from([0]) })),
];

export interface HostileOptions {
  readonly seed: number;
  readonly history: History;
  readonly fleet: Fleet;
  readonly repeats: number;
  readonly intervalMs: number;
  readonly statusToken: string;
  readonly activeStep: (rng: Rng) => ActiveStep | undefined;
}

/** Sends every case `repeats` times, in a seeded order, spread over the run. */
export class HostileLoad {
  private stopped = false;
  private loop: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  done = false;
  /** Requests still queued when the load was stopped. */
  unsent = 0;

  constructor(private readonly o: HostileOptions) {}

  start(): void {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const rng = rngFor(this.o.seed, 'hostile');
    const queue = rng.shuffle(Array.from({ length: this.o.repeats }, () => HOSTILE_CASES).flat());
    let n = 0;
    while (queue.length && !this.stopped) {
      await sleep(rng.exp(this.o.intervalMs));
      const hostile = queue.shift()!;
      n++;
      const r = rngFor(this.o.seed, 'hostile', n);
      const step = hostile.fn === 'callbacks' ? this.o.activeStep(r) : undefined;
      const sent = hostile.build({ rng: r, n, step, statusToken: this.o.statusToken });
      if (!sent) {
        queue.push(hostile); // no active run right now: later
        continue;
      }
      const p = this.fire(hostile, sent, r).finally(() => this.inflight.delete(p));
      this.inflight.add(p);
    }
    this.unsent = queue.length;
    await Promise.allSettled([...this.inflight]);
    this.done = true;
  }

  private async fire(c: HostileCase, sent: Sent, rng: Rng): Promise<void> {
    const h = this.o.history;
    const headers = c.fn === 'status' ? { authorization: `Bearer ${this.o.statusToken}`, ...(sent.headers ?? {}) } : (sent.headers ?? {});
    const statuses: number[] = [];
    const violations: string[] = [];
    let body = '';
    const until = Date.now() + 120_000;
    let netErrors = 0;
    while (Date.now() < until && !this.stopped) {
      const inst = await this.o.fleet.route(c.fn, rng, 5000);
      if (!inst) continue;
      const t0 = Date.now();
      let status: number;
      try {
        const res = await send(inst.url, { ...sent, headers, timeoutMs: 30_000 });
        status = res.status;
        body = res.text.slice(0, 300);
      } catch (err) {
        // a killed instance cuts its requests: send again elsewhere (a crash is counted by the fleet)
        if (++netErrors > 20) {
          violations.push(`no answer after ${netErrors} tries: ${(err as Error).message}`);
          break;
        }
        await sleep(100);
        continue;
      }
      statuses.push(status);
      h.status(`${c.fn}<-hostile`, status);
      if (status === 503 && h.during('postgres', t0 - 500, Date.now(), 3000)) {
        await sleep(300); // the database is down on purpose: ask again later for the real answer
        continue;
      }
      if (status >= 500) violations.push(`${status} ${body.slice(0, 160)}`);
      break;
    }
    h.hostile.push({ name: c.name, fn: c.fn, request: `${sent.method ?? 'POST'} ${sent.path.slice(0, 60)}`, statuses, final: statuses[statuses.length - 1] ?? 0, violations, body });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}
