// Fuzzing intake through the production entry point: no input gets a 5xx or crashes the
// process, and every rejected input is kept in dead_letters, byte for byte.
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { binaryEvent, codexTaskBytes, codexTaskJson, githubWebhook, headerValue, ideaSpec, structuredEvent, type RawRequest, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { describe, send, startTargets, type Targets } from './targets.js';

let t: Targets;
beforeAll(async () => {
  t = await startTargets(['intake']);
}, 60_000);
afterAll(() => t?.close());

const deadLetters = async (): Promise<number> => Number((await t.db.sql`select count(*)::int as n from codex_kb.dead_letters`)[0]!.n);

const onTopic = (topic: string, contentType: string) => (body: Uint8Array | string): RawRequest => ({
  headers: {
    'ce-specversion': '1.0', 'ce-type': 'dev.knative.kafka.event', 'ce-id': `fuzz-${Math.random()}`,
    'ce-source': `/apis/v1/namespaces/facteur/kafkasources/intake#${topic}`, 'content-type': contentType,
  },
  body,
  note: topic,
});

const entryPoints: [string, fc.Arbitrary<RawRequest>][] = [
  ['binary CloudEvents', binaryEvent],
  ['structured CloudEvents', structuredEvent],
  ['Idea Specs', ideaSpec.map((s) => JSON.stringify(s)).map(onTopic('codex.intent', 'application/json'))],
  ['CodexTask protobuf', codexTaskBytes.map(onTopic('github.issues.codex.tasks', 'application/x-protobuf'))],
  ['CodexTask JSON', codexTaskJson.map((j) => JSON.stringify(j)).map(onTopic('github.codex.tasks', 'application/json'))],
  // GitHub's headers as Kafka headers, some missing, some hostile (the event name, the delivery id)
  ['GitHub webhooks', fc.tuple(githubWebhook, fc.option(fc.oneof(fc.constantFrom('issue_comment', 'pull_request_review', 'issues', 'push'), headerValue)), fc.option(headerValue)).map(([payload, event, delivery]) => {
    const req = onTopic('github.webhook.events', 'application/json')(JSON.stringify(payload) ?? 'null');
    return { ...req, headers: { ...req.headers, ...(event !== null ? { 'ce-kafkaheaderxgithubevent': event } : {}), ...(delivery !== null ? { 'ce-kafkaheaderxgithubdelivery': delivery, 'ce-key': delivery } : {}) } };
  })],
];

suite('intake under fuzzing (Functions Framework process, real PostgreSQL)', () => {
  for (const [name, arb] of entryPoints) {
    it(`${name}: never a 5xx, every rejection kept as a dead letter`, async () => {
      await fc.assert(
        fc.asyncProperty(arb, async (req) => {
          const before = await deadLetters();
          const answer = await send(`${t.urls.intake}/`, { headers: req.headers, body: req.body });
          const what = describe(`intake ${req.note}`, req.body, answer);
          expect(answer.status, what).toBeLessThan(500);
          expect([200, 202, 400, 413, 415, 422], what).toContain(answer.status);
          const kept = (await deadLetters()) - before;
          expect(kept, what).toBe(answer.status >= 400 ? 1 : 0);
          if (answer.status >= 400) {
            expect(answer.body?.error?.code, what).toEqual(expect.any(String));
            const [dl] = await t.db.sql`select payload, payload_truncated from codex_kb.dead_letters order by id desc limit 1`;
            const sent = typeof req.body === 'string' ? Buffer.from(req.body) : Buffer.from(req.body);
            if (!dl!.payload_truncated) expect(Buffer.from(dl!.payload).equals(sent), what).toBe(true);
          }
        }),
        fuzzOptions(),
      );
    }, FUZZ_TIMEOUT_MS);
  }

  it('is healthy afterwards: /healthz, and a valid Idea Spec is still accepted', async () => {
    expect(t.children.intake!.proc.exitCode).toBeNull();
    expect((await send(`${t.urls.intake}/healthz`, { method: 'GET' })).status).toBe(200);
    const ok = onTopic('codex.intent', 'application/json')(JSON.stringify({ title: 'After fuzz', goal: 'still works', successMetrics: ['202'], repository: 'acme/web' }));
    expect((await send(`${t.urls.intake}/`, { headers: ok.headers, body: ok.body })).status).toBe(202);
  });
});
