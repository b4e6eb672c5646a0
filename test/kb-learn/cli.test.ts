// The kb CLI's output and refusals: a progress bar redrawn in place on a terminal, a plain
// line per batch otherwise; a bad command line is exit 2 with the reason, a refused
// promotion exit 1 (on real PostgreSQL).
import { beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { progressLine, runKbCli } from '../../shared/kb/cli.js';
import { createLocalEmbedder } from '../../shared/kb/embed/local.js';
import { ensureVersion } from '../../shared/kb/versions.js';
import { silentLogger } from '../../shared/log/index.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { seedReflections } from './seed.js';

let db: TestDb;
beforeAll(async () => {
  db = await createTestDb();
  await ensureVersion(db.sql, createLocalEmbedder());
  await seedReflections(db.sql, createLocalEmbedder(), 50);
});

const run = async (...argv: string[]) => {
  let out = '';
  const code = await runKbCli(argv, { sql: db.sql, log: silentLogger, config: loadConfig({}), out: { write: (s: string) => (out += s), isTTY: false } });
  return { code, out };
};

describe('kb CLI', () => {
  it('draws a bar on a terminal and plain lines elsewhere', () => {
    expect(progressLine({ done: 50, total: 200, batch: 10, phase: 'embedding' }, true)).toBe(`\r[${'#'.repeat(8)}${'-'.repeat(22)}]  25% 50/200 embedding`);
    expect(progressLine({ done: 200, total: 200, batch: 0, phase: 'done' }, true)).toMatch(/100% 200\/200 done\s*\n$/);
    expect(progressLine({ done: 50, total: 200, batch: 10, phase: 'embedding' }, false)).toBe('reembed: embedding 50/200 (25%) +10\n');
  });

  it('refuses a bad command line with exit 2 and the reason', async () => {
    expect(await run('reembed')).toEqual({ code: 2, out: 'kb reembed: --to <version> is required\n' });
    expect((await run('reembed', '--to', 'openai-large-v9')).out).toContain('no embedder makes openai-large-v9');
    expect((await run('reembed', '--to', 'local-hash-64-v1', '--batch', '0')).code).toBe(2);
    expect((await run('promote', '--kind', 'prompt', '--candidate', 'p', '--faithfulness', '7')).out).toContain('--faithfulness must be a number from 0 to 1');
    expect((await run('nope')).code).toBe(2);
  });

  it('re-embeds and asks the gate: a worse version is refused with exit 1', async () => {
    const r = await run('reembed', '--to', 'local-hash-16-v1', '--batch', '20');
    expect(r.code).toBe(1);
    expect(r.out).toContain('reembed: embedding 20/50 (40%) +20\n');
    expect(r.out).toMatch(/embedding local-hash-16-v1: REFUSED against local-hash-384-v1, delta -/);
    const ok = await run('promote', '--kind', 'model', '--candidate', 'm1', '--faithfulness', '0.9');
    expect(ok.code).toBe(0);
    expect(ok.out).toContain('model m1: PROMOTED');
  });
});
