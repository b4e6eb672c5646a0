// Fuzzing intake's Discord interactions endpoint through the production entry point: hostile
// bodies signed with the application's key (so they reach the parser), and hostile, forged,
// stale or missing signatures. Never a 5xx; every refusal (400, 401, 413) kept as a dead letter.
import { sign } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe as suite, expect, it } from 'vitest';
import { headerValue, hostileJson, hostileJsonText, hostileString, fuzzOptions, FUZZ_TIMEOUT_MS } from './arbitraries.js';
import { describe, DISCORD_KEYS, send, startTargets, type Targets } from './targets.js';

let t: Targets;
beforeAll(async () => {
  t = await startTargets(['intake']);
}, 60_000);
afterAll(() => t?.close());

const kept = async (): Promise<number> => Number((await t.db.sql`select count(*)::int as n from codex_kb.dead_letters`)[0]!.n);

const option = fc.record({ name: fc.oneof(fc.constantFrom('repository', 'goal', 'success-metrics', 'constraints', 'non-goals', 'labels', 'title'), hostileString), type: fc.oneof(fc.constant(3), hostileJson), value: fc.oneof(fc.constantFrom('acme/web', 'a; b', 'x'), hostileString, hostileJson) }, { requiredKeys: [] });
const interaction = fc.record({
  id: fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 63n }).map(String), hostileString, hostileJson),
  type: fc.oneof(fc.constantFrom(1, 2, 3, 5), hostileJson),
  data: fc.record({ name: fc.oneof(fc.constant('idea'), hostileString), options: fc.oneof(fc.array(option, { maxLength: 8 }), hostileJson) }, { requiredKeys: [] }),
  member: fc.oneof(fc.record({ user: fc.record({ id: fc.constant('1'), username: fc.oneof(fc.constant('ada'), hostileString) }) }), hostileJson),
}, { requiredKeys: [] });
const body = fc.oneof(interaction.map((i) => JSON.stringify(i)), hostileJsonText);
const signature = fc.constantFrom('valid', 'forged', 'stale', 'missing', 'hostile');

suite('Discord interactions under fuzzing (Functions Framework process)', () => {
  it('never a 5xx; every refusal kept as a dead letter', async () => {
    await fc.assert(
      fc.asyncProperty(body, signature, headerValue, async (text, mode, hostile) => {
        const now = Math.floor(Date.now() / 1000);
        const ts = String(mode === 'stale' ? now - 3600 : now);
        const sig = sign(null, Buffer.from(ts + (mode === 'forged' ? text + ' ' : text)), DISCORD_KEYS.privateKey).toString('hex');
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (mode === 'hostile') Object.assign(headers, { 'x-signature-ed25519': hostile, 'x-signature-timestamp': hostile });
        else if (mode !== 'missing') Object.assign(headers, { 'x-signature-ed25519': sig, 'x-signature-timestamp': ts });
        const before = await kept();
        const answer = await send(`${t.urls.intake}/discord/interactions`, { headers, body: text });
        const what = describe(`discord ${mode}`, text, answer);
        expect([200, 400, 401, 413], what).toContain(answer.status);
        if (mode !== 'valid') expect(answer.status, what).toBe(401);
        expect((await kept()) - before, what).toBe(answer.status >= 400 ? 1 : 0);
        if (answer.status === 200) expect([1, 4], what).toContain(answer.body.type);
      }),
      fuzzOptions(),
    );
  }, FUZZ_TIMEOUT_MS);

  it('is healthy afterwards', async () => {
    expect(t.children.intake!.proc.exitCode).toBeNull();
    expect((await send(`${t.urls.intake}/healthz`, { method: 'GET' })).status).toBe(200);
  });
});
