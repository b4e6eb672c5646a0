// Idea Specs with labels register, alone (one statement) or several at once (group commit):
// labels reached PostgreSQL as a malformed array literal on a statement's first run on a
// connection, so the first labelled idea of every connection was refused with a 422.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from '../helpers/system.js';
import { ideaSpec, postEvent } from '../helpers/http.js';

let sys: System;
beforeAll(async () => {
  sys = await startSystem();
}, 60_000);
afterAll(() => sys?.close());

describe('labelled Idea Specs', () => {
  it.each([[['ui']], [['ui', 'security']], [[]]])('labels %j, alone and eight at once', async (labels) => {
    const post = (id: string) => postEvent(sys.urls.intake, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id, labels })) });
    const alone = await post(`labels-${labels.join('-')}-alone`);
    expect(alone.status, JSON.stringify(alone.body)).toBe(202);
    const many = await Promise.all(Array.from({ length: 8 }, (_, i) => post(`labels-${labels.join('-')}-${i}`)));
    expect(many.map((r) => r.status)).toEqual(Array(8).fill(202));
    const rows = await sys.db.sql`select labels from codex_kb.ideas where id = any(${[alone.body.ideaId, ...many.map((r) => r.body.ideaId)]}::uuid[])`;
    expect(rows.map((r) => r.labels)).toEqual(Array(9).fill([...labels].sort()));
  });
});
