// Group commit: concurrent registrations share statements, and still each get exactly
// their own effects and answer — also when a redelivery or bad data lands in a group.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { createGroupRegistrar, intake } from '../../shared/intake/index.js';
import type { ReceivedEvent } from '../../shared/events/cloudevent.js';
import { createTestDb } from '../helpers/db.js';
import { ideaSpec } from '../helpers/http.js';

const config = loadConfig({});
const event = (body: unknown, id: string): ReceivedEvent => ({
  mode: 'binary', id, source: '/test#codex.intent', type: 'dev.knative.kafka.event', subject: undefined, time: undefined,
  topic: 'codex.intent', key: undefined, kafkaHeaders: {}, extensions: {}, contentType: 'application/json',
  data: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), traceparent: undefined,
});

describe('group commit', () => {
  it('40 concurrent registrations: fewer statements than events, every event its own idea, audit entry and outbox event', async () => {
    const db = await createTestDb();
    const registrar = createGroupRegistrar(db.sql);
    const deps = { sql: db.sql, config, registrar };
    const out = await Promise.all(Array.from({ length: 40 }, (_, i) => intake(deps, event(ideaSpec({ id: `g-${i}`, title: `Idea ${i}` }), `e-${i}`))));
    expect(new Set(out.map((o) => ('ideaId' in o ? o.ideaId : ''))).size).toBe(40);
    expect(out.every((o) => 'duplicate' in o && o.duplicate === false)).toBe(true);
    const s = registrar.stats();
    expect(s.grouped).toBeGreaterThan(1);
    expect(s.groups).toBeLessThan(40);
    const [c] = await db.sql`
      select (select count(*)::int from codex_kb.ideas) as ideas, (select count(*)::int from codex_kb.deliveries) as deliveries,
             (select count(*)::int from codex_kb.audit_log) as audit, (select count(*)::int from codex_kb.outbox) as outbox`;
    expect(c).toEqual({ ideas: 40, deliveries: 40, audit: 40, outbox: 40 });
    // each idea got its own spec
    const titles = await db.sql`select i.title, d.delivery_key from codex_kb.ideas i join codex_kb.deliveries d on d.idea_id = i.id`;
    for (const t of titles) expect(t.delivery_key).toBe(`idea-spec:g-${String(t.title).slice(5)}`);
  });

  it('a redelivery inside a group: the group falls back, every member still answered correctly, nothing doubled', async () => {
    const db = await createTestDb();
    const registrar = createGroupRegistrar(db.sql);
    const deps = { sql: db.sql, config, registrar };
    const first = await intake(deps, event(ideaSpec({ id: 'again' }), 'first'));
    const out = await Promise.all([
      ...Array.from({ length: 10 }, (_, i) => intake(deps, event(ideaSpec({ id: `fresh-${i}` }), `f-${i}`))),
      intake(deps, event(ideaSpec({ id: 'again' }), 'redelivered')),
    ]);
    const again = out[10]!;
    expect(again).toMatchObject({ duplicate: true, ideaId: 'ideaId' in first ? first.ideaId : 'x' });
    expect(out.slice(0, 10).every((o) => 'duplicate' in o && !o.duplicate)).toBe(true);
    const [c] = await db.sql`select count(*)::int as n from codex_kb.deliveries`;
    expect(c!.n).toBe(11);
    const [a] = await db.sql`select count(*)::int as n from codex_kb.audit_log`;
    expect(a!.n).toBe(11);
  });

  it('two deliveries for the same issue never share a group, and attach to one idea', async () => {
    const db = await createTestDb();
    const registrar = createGroupRegistrar(db.sql);
    const deps = { sql: db.sql, config, registrar };
    const source = { type: 'github_issue', ref: 'acme/web#7' };
    const out = await Promise.all([
      intake(deps, event(ideaSpec({ id: 'a', source }), 'a')),
      intake(deps, event(ideaSpec({ id: 'b', source }), 'b')),
      intake(deps, event(ideaSpec({ id: 'c' }), 'c')),
    ]);
    expect(new Set(out.slice(0, 2).map((o) => ('ideaId' in o ? o.ideaId : ''))).size).toBe(1);
    expect(registrar.stats().fallbacks).toBe(0);
  });
});
