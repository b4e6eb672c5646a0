// fast-check generators for everything that reaches Facteur from outside: CloudEvents
// (binary and structured), CodexTask protobuf bytes (valid, truncated, unknown fields, wrong
// wire types), JSON tasks, Idea Specs, plans (JSON and Markdown), callbacks, paths and query
// strings. Each mixes valid shapes with the hostile values people and parsers actually send.
import fc from 'fast-check';
import { encodeCodexTask, type CodexTask } from '../../shared/intake/index.js';

/** How many cases a property runs: a few hundred in `npm test`, 10 000 in `npm run chaos`. */
export const RUNS = Number(process.env.FUZZ_RUNS ?? 200);
/** A failing seed replays with FUZZ_SEED=<seed>. */
export const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : undefined;
/**
 * A property's time: 10 minutes, or 150 ms a case when that is more (10 000 cases of one entry
 * point took over 10 minutes on a loaded 2-core machine in `npm run chaos`).
 */
export const FUZZ_TIMEOUT_MS = Math.max(600_000, RUNS * 150);
/**
 * fast-check's options for every property: the runs, the seed to replay, and a stop a little
 * before the test's own timeout — a property vitest abandons keeps running in the background,
 * and its requests then land in the next property's checks (seed 6061's chaos run).
 */
export const fuzzOptions = () => ({
  numRuns: RUNS,
  ...(SEED !== undefined ? { seed: SEED } : {}),
  interruptAfterTimeLimit: FUZZ_TIMEOUT_MS - 15_000,
  markInterruptAsFailure: true,
});

export const HOSTILE_STRINGS = [
  '', ' ', '\u0000', 'a\u0000b', '\ud800', 'x\udc00y', '\ufeff', '{{workflow.name}}', '{{=sprig.env("X")}}', '%ZZ', '%E0%A4%A', '%00',
  '../..', '..', '.', '/', '//', 'a b', 'main.lock', '-rf', '@', 'a@{1}', 'x'.repeat(300), '😀'.repeat(100), '\r\n', '<script>', "'; drop table x; --",
  'CODEX_TASK_STAGE_IMPLEMENTATION', 'planning', 'acme/web', 'main', '1e309', 'NaN', '__proto__', 'constructor',
];

export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...HOSTILE_STRINGS) },
  { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 40 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary-ascii', maxLength: 40 }) },
);

/** A JSON value whose strings and keys are hostile. */
export const hostileJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    hostileString,
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.array(tie('value'), { maxLength: 5 }),
    fc.dictionary(hostileString, tie('value'), { maxKeys: 5 }),
  ),
})).value;

/** JSON text that JSON.stringify would not make: deep nesting, huge arrays, escapes. */
export const hostileJsonText: fc.Arbitrary<string> = fc.oneof(
  fc.integer({ min: 60, max: 6000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.integer({ min: 60, max: 3000 }).map((n) => '{"a":'.repeat(n) + '1' + '}'.repeat(n)),
  fc.integer({ min: 100_001, max: 150_000 }).map((n) => '[' + '0,'.repeat(n) + '0]'),
  fc.constantFrom('{"title":"\\u0000"}', '{"a":"\\ud800"}', '{"\\u0000":1}', '"\\udfff"', '{"title": nope', '{', '', 'null', '[]', '1', '"x"', '\u0000'),
);

export const bytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.uint8Array({ maxLength: 200 }),
  fc.constantFrom(Uint8Array.of(0), Uint8Array.of(0xff, 0xfe, 0), Uint8Array.of(0xc3, 0x28), Uint8Array.of(0xed, 0xa0, 0x80), Uint8Array.of(0xe0, 0xa4)),
);

const validSpec = {
  title: 'Add dark mode',
  goal: 'Users can switch the UI to a dark theme',
  successMetrics: ['toggle persists'],
  repository: 'acme/web',
};

/** Idea Specs: the valid one with some fields replaced, dropped or added. */
export const ideaSpec: fc.Arbitrary<Record<string, unknown>> = fc
  .record(
    {
      id: fc.oneof(fc.uuid(), hostileString),
      title: fc.oneof(hostileString, hostileJson),
      goal: hostileString,
      successMetrics: fc.oneof(fc.array(hostileString, { maxLength: 3 }), hostileJson),
      repository: fc.oneof(fc.constantFrom('acme/web', 'Acme/Web.js', 'a/..', '../x', 'acme', 'a/b/c'), hostileString),
      base: fc.oneof(fc.constantFrom('main', 'release/1.x', '{{workflow.name}}', 'a b', 'x..y', 'feature/', 'a.lock'), hostileString),
      labels: fc.array(hostileString, { maxLength: 4 }),
      priority: fc.oneof(fc.constantFrom('low', 'urgent'), hostileString),
      autonomyLevel: fc.oneof(fc.constantFrom('L0', 'L3'), hostileString),
      budget: fc.oneof(fc.record({ maxCostUsd: fc.double(), maxTokens: fc.integer() }, { requiredKeys: [] }), hostileJson),
      initiator: fc.oneof(fc.record({ kind: fc.constantFrom('github', 'api', 'x'), login: hostileString }), hostileJson),
      extra: hostileJson,
    },
    { requiredKeys: [] },
  )
  .map((over) => ({ ...validSpec, ...over }));

const codexTask: fc.Arbitrary<Partial<CodexTask>> = fc.record(
  {
    stage: fc.constantFrom('planning', 'implementation', 'review'),
    prompt: hostileString,
    repository: fc.oneof(fc.constant('acme/web'), hostileString),
    base: fc.oneof(fc.constant('main'), hostileString),
    head: fc.oneof(fc.constant('feature/x'), hostileString),
    issueNumber: fc.oneof(fc.bigInt({ min: 1n, max: 2n ** 63n - 1n }).map(String), fc.constant('0')),
    issueTitle: hostileString,
    issueBody: hostileString,
    sender: hostileString,
    deliveryId: fc.oneof(fc.uuid(), hostileString),
  },
  { requiredKeys: ['stage'] },
) as fc.Arbitrary<Partial<CodexTask>>;

/** Protobuf bytes: a valid encoding, cut short, with unknown fields, or with wire types flipped. */
export const codexTaskBytes: fc.Arbitrary<Uint8Array> = fc.oneof(
  codexTask.map((t) => safeEncode(t)),
  fc.tuple(codexTask, fc.nat()).map(([t, n]) => {
    const b = safeEncode(t);
    return b.subarray(0, b.length ? n % b.length : 0);
  }),
  // unknown field 99 (varint) and 100 (bytes) appended: newer producers
  fc.tuple(codexTask, fc.uint8Array({ maxLength: 20 })).map(([t, extra]) => concat(safeEncode(t), Uint8Array.of(0x98, 0x06, 0x01, 0xa2, 0x06, extra.length), extra)),
  // a known field number with the wrong wire type (repository as a varint), then random bytes
  fc.tuple(codexTask, fc.uint8Array({ maxLength: 20 })).map(([t, junk]) => concat(Uint8Array.of(0x18, 0x05), safeEncode(t), junk)),
  // a string field holding invalid UTF-8 or NUL
  fc.constantFrom(Uint8Array.of(0x1a, 0x02, 0xc3, 0x28), Uint8Array.of(0x1a, 0x03, 0x61, 0x00, 0x62), Uint8Array.of(0x12, 0xff, 0xff, 0xff, 0xff, 0x0f)),
  bytes,
);

function safeEncode(t: Partial<CodexTask>): Uint8Array {
  try {
    return encodeCodexTask(t as CodexTask);
  } catch {
    return new Uint8Array();
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

/** JSON tasks (topic github.codex.tasks), both stage spellings. */
export const codexTaskJson: fc.Arbitrary<unknown> = fc.oneof(
  codexTask.map((t) => ({ ...t, stage: t.stage === 'implementation' ? 'CODEX_TASK_STAGE_IMPLEMENTATION' : t.stage })),
  fc.record({ stage: hostileJson, repository: hostileJson, issueNumber: hostileJson, reviewContext: hostileJson }, { requiredKeys: [] }),
);

/**
 * GitHub webhooks as `github.webhook.events` carries them: issue_comment and
 * pull_request_review shapes whose commands, logins, numbers and associations are hostile,
 * and any JSON at all.
 */
const command = fc.oneof(fc.constantFrom('/approve', '/reject', '/reject no', ' /approve\r\nok', '/approve\u0000', '/reject {{x}}'), hostileString);
const ghUser = fc.oneof(fc.record({ login: fc.oneof(fc.constantFrom('hubber', 'octocat'), hostileString) }), hostileJson);
/** A body on Facteur's idea template, sections shuffled, emptied, doubled or hostile. */
const ideaTemplateBody: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.constantFrom('## Goal', '### Constraints', '## success metrics', '# Non-goals', '## 🎯 Goal', '```', '<!--', '-->', '- [x]', '## Other'), fc.oneof(fc.constantFrom('', '- a', '- ', '_No response_', 'text\r\nmore'), hostileString)), { maxLength: 12 })
  .map((parts) => parts.map(([h, t]) => `${h}\n${t}`).join('\n'));

export const githubWebhook: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({
    action: fc.oneof(fc.constant('created'), hostileString),
    comment: fc.record({ body: fc.oneof(command, hostileJson), user: ghUser, author_association: fc.oneof(fc.constantFrom('MEMBER', 'NONE'), hostileJson) }, { requiredKeys: [] }),
    issue: fc.record({ number: fc.oneof(fc.integer({ min: -2, max: 2 ** 53 }), hostileJson), pull_request: fc.oneof(fc.constant({}), hostileJson) }, { requiredKeys: ['number'] }),
    repository: fc.record({ full_name: fc.oneof(fc.constant('acme/web'), hostileString) }),
  }, { requiredKeys: [] }),
  fc.record({
    action: fc.oneof(fc.constant('submitted'), hostileString),
    review: fc.record({ body: fc.oneof(command, fc.constant(null)), user: ghUser, author_association: fc.constant('OWNER'), state: hostileJson }, { requiredKeys: [] }),
    pull_request: fc.record({ number: fc.oneof(fc.nat(), hostileJson), user: ghUser }, { requiredKeys: [] }),
    repository: fc.record({ full_name: fc.oneof(fc.constant('acme/web'), hostileString) }),
  }, { requiredKeys: [] }),
  // issues on the idea template (shared/sources/github-issue.ts), messy and hostile
  fc.record({
    action: fc.oneof(fc.constantFrom('opened', 'labeled', 'edited'), hostileString),
    issue: fc.record({
      number: fc.oneof(fc.integer({ min: -2, max: 2 ** 53 }), hostileJson),
      title: fc.oneof(fc.constant('An idea'), hostileString, hostileJson),
      body: fc.oneof(ideaTemplateBody, hostileString, fc.constant(null), hostileJson),
      labels: fc.oneof(fc.array(fc.record({ name: fc.oneof(fc.constant('facteur'), hostileString) }), { maxLength: 5 }), hostileJson),
      user: ghUser,
    }, { requiredKeys: [] }),
    label: fc.record({ name: fc.oneof(fc.constant('facteur'), hostileString) }),
    repository: fc.record({ full_name: fc.oneof(fc.constant('acme/web'), hostileString) }),
  }, { requiredKeys: [] }),
  hostileJson,
);

export const TOPICS = ['codex.intent', 'github.issues.codex.tasks', 'github.codex.tasks', 'argo.workflows.completions', 'codex.telemetry', 'github.webhook.events', 'nope', ''];

/** Visible ASCII header text, with percent-escapes (binary-mode attribute encoding). */
export const headerValue: fc.Arbitrary<string> = fc.oneof(
  fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 60 }),
  fc.constantFrom('%00', '%ZZ', '%E0%A4%A', '%F0%9F%98%80', 'partition:0/offset:1', '{{x}}'),
);

export interface RawRequest {
  readonly headers: Record<string, string>;
  readonly body: Uint8Array | string;
  readonly note: string;
}

/** A body as some route might receive it. */
export const anyBody: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  ideaSpec.map((s) => JSON.stringify(s)),
  codexTaskBytes,
  codexTaskJson.map((t) => JSON.stringify(t)),
  hostileJson.map((v) => JSON.stringify(v) ?? 'null'),
  hostileJsonText,
  bytes,
);

const contentType = fc.oneof(
  fc.constantFrom('application/json', 'application/json; charset=utf-8', 'application/json; charset=utf-16', 'application/json;charset="latin1"', 'application/x-protobuf', 'text/plain', 'application/cloudevents+json', ''),
  headerValue,
);

/** Binary-mode CloudEvents: KafkaSource's headers, some of them wrong. */
export const binaryEvent: fc.Arbitrary<RawRequest> = fc
  .record({
    topic: fc.constantFrom(...TOPICS),
    id: fc.oneof(fc.uuid(), headerValue),
    specversion: fc.constantFrom('1.0', '1.0', '0.3', ''),
    type: fc.oneof(fc.constant('dev.knative.kafka.event'), headerValue),
    contentType,
    extra: fc.dictionary(fc.stringMatching(/^ce-[a-z0-9]{1,12}$/), headerValue, { maxKeys: 3 }),
    body: anyBody,
  })
  .map((r) => ({
    headers: {
      ...r.extra,
      ...(r.specversion ? { 'ce-specversion': r.specversion } : {}),
      'ce-id': r.id,
      'ce-type': r.type,
      'ce-source': `/apis/v1/namespaces/facteur/kafkasources/intake#${r.topic}`,
      ...(r.contentType ? { 'content-type': r.contentType } : {}),
    },
    body: r.body,
    note: `binary ${r.topic}`,
  }));

/** Structured-mode CloudEvents (application/cloudevents+json). */
export const structuredEvent: fc.Arbitrary<RawRequest> = fc
  .record(
    {
      specversion: fc.oneof(fc.constant('1.0'), hostileJson),
      id: fc.oneof(fc.uuid(), hostileString, hostileJson),
      source: fc.oneof(fc.constantFrom(...TOPICS).map((t) => `/apis/v1/namespaces/facteur/kafkasources/intake#${t}`), hostileString),
      type: fc.oneof(fc.constant('dev.knative.kafka.event'), hostileString),
      datacontenttype: fc.constantFrom('application/json', 'application/x-protobuf', 'text/plain'),
      data: fc.oneof(ideaSpec, hostileJson),
      data_base64: fc.oneof(codexTaskBytes.map((b) => Buffer.from(b).toString('base64')), hostileString),
    },
    { requiredKeys: ['specversion', 'id', 'source', 'type'] },
  )
  .map((e) => ({ headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify(e), note: 'structured' }));

const planTask = fc.record({
  key: fc.oneof(fc.constantFrom('api', 'ui', 'a:b', 'a..b', 'x.lock', '-x', '{{k}}'), hostileString),
  title: hostileString,
  description: hostileString,
  acceptanceCriteria: fc.array(hostileString, { maxLength: 2 }),
  dependsOn: fc.array(fc.oneof(fc.constantFrom('api', 'ui'), hostileJson), { maxLength: 2 }),
  risk: fc.constantFrom('low', 'high', 'nope'),
});

/** Plans as a planning step sends them: JSON objects or Markdown text. */
export const planData: fc.Arbitrary<unknown> = fc.oneof(
  fc.record({ tasks: fc.array(planTask, { maxLength: 4 }), acceptanceCriteria: fc.array(hostileString, { maxLength: 2 }), risks: hostileJson, milestones: hostileJson }, { requiredKeys: [] }),
  fc.array(hostileString, { maxLength: 8 }).map((lines) => ({ markdown: `# Plan\n\n## Tasks\n\n${lines.map((l) => `- ${l}`).join('\n')}` })),
  hostileJson,
);

/** Callback bodies (CONTRACTS §7): valid shapes with hostile fields, and raw junk. */
export const callbackBody: fc.Arbitrary<Uint8Array | string> = fc.oneof(
  fc
    .record(
      {
        seq: fc.oneof(fc.integer({ min: 1, max: 1000 }), hostileJson),
        type: fc.oneof(fc.constantFrom('heartbeat', 'artifact', 'started'), hostileString),
        at: fc.oneof(fc.date({ noInvalidDate: true }).map((d) => d.toISOString()), hostileString),
        progress: fc.oneof(fc.double(), hostileJson),
        message: hostileString,
        artifact: fc.oneof(
          fc.record({ kind: fc.constantFrom('plan', 'test-report', 'diff-stats', 'review', 'nope'), data: fc.oneof(planData, hostileJson) }),
          hostileJson,
        ),
        // numbers at the edges of the columns they are summed into (bigint, numeric(14, 6), real)
        usage: fc.oneof(
          fc.record({ inputTokens: fc.oneof(fc.integer(), fc.double(), fc.constant(1e300)), outputTokens: fc.oneof(fc.nat(), fc.constant(2 ** 63)), costUsd: fc.oneof(fc.double(), fc.constant(1e15)) }, { requiredKeys: [] }),
          hostileJson,
        ),
      },
      { requiredKeys: ['seq', 'type'] },
    )
    .map((e) => JSON.stringify(e)),
  hostileJsonText,
  bytes,
);

/** Path segments and query strings for the status and callbacks routes. */
export const pathSegment: fc.Arbitrary<string> = fc.oneof(
  fc.uuid(),
  fc.constantFrom('%ZZ', '%E0%A4%A', '%00', '%2F', '..', '%2e%2e', '', 'x%', '%', '%ud800', encodeURIComponent('\u{1F600}')),
  fc.string({ unit: fc.integer({ min: 0x21, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 40 }).map((s) => s.replace(/[?#/]/g, '')),
);

export const queryString: fc.Arbitrary<string> = fc
  .array(fc.tuple(fc.constantFrom('status', 'repository', 'limit', 'cursor', 'function', 'reason', 'window', 'x', '%ZZ'), fc.oneof(pathSegment, fc.integer().map(String), fc.constantFrom('running', 'completed', '-1', '1e9', 'nope', '24h', '0m', '31d', '9999999d'))), { maxLength: 4 })
  .map((kv) => (kv.length ? '?' + kv.map(([k, v]) => `${k}=${v}`).join('&') : ''));
