// `facteur-step` run in-process against a real HTTP server (test/step/server.ts).
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { readCounter } from '../../shared/step/index.js';
import { printed, run, START, stateDir, stepEnv, TOKEN } from './run.js';
import { ScriptedServer } from './server.js';

let server: ScriptedServer;
let dir: string;
let env: NodeJS.ProcessEnv;

beforeEach(async () => {
  server = await new ScriptedServer().listen(0);
  dir = await stateDir();
  env = stepEnv(server.url, dir);
});
afterEach(() => server.close());
afterAll(() => {
  // Whatever happened in this file, the token was never printed.
  expect(printed.join('\n')).not.toContain(TOKEN);
});

describe('body shape', () => {
  it('started: POST with bearer token, JSON content type, seq, type, at and message', async () => {
    const r = await run(['started', '--message', 'cloning'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('facteur-step: started #1 recorded (202)\n');
    const [req] = server.requests;
    expect(req?.method).toBe('POST');
    expect(req?.url).toBe('/v1/runs/run-1/events');
    expect(req?.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(req?.headers['content-type']).toBe('application/json');
    expect(req?.body).toEqual({ seq: 1, type: 'started', at: new Date(START).toISOString(), message: 'cloning' });
  });

  it('heartbeat: progress and message', async () => {
    await run(['heartbeat', '--progress', '0.25', '--message', 'planning', '--quiet'], env);
    expect(server.requests[0]?.body).toEqual({ seq: 1, type: 'heartbeat', at: expect.any(String), progress: 0.25, message: 'planning' });
  });

  it('artifact from a JSON file is sent parsed; a text file as a string', async () => {
    await writeFile(join(dir, 'plan.json'), JSON.stringify({ tasks: [{ id: 't1' }] }));
    await writeFile(join(dir, 'review.md'), '# Review\nLGTM\n');
    expect((await run(['artifact', 'plan', join(dir, 'plan.json')], env)).code).toBe(0);
    expect((await run(['artifact', 'review', join(dir, 'review.md')], env)).code).toBe(0);
    expect(server.requests.map((r) => r.body.artifact)).toEqual([
      { kind: 'plan', data: { tasks: [{ id: 't1' }] } },
      { kind: 'review', data: '# Review\nLGTM\n' },
    ]);
    expect(server.requests[1]?.body).toMatchObject({ seq: 2, type: 'artifact' });
  });

  it('artifact from stdin', async () => {
    const r = await run(['artifact', 'test-report', '-'], env, { stdin: '{"passed":12,"failed":0}' });
    expect(r.code).toBe(0);
    expect(server.requests[0]?.body.artifact).toEqual({ kind: 'test-report', data: { passed: 12, failed: 0 } });
  });

  it('completed: outcome, error and usage', async () => {
    const argv = ['completed', 'failed', '--error-code', 'tests_failed', '--error-message', '3 tests failed'];
    await run([...argv, '--input-tokens', '1200', '--output-tokens', '300', '--cost-usd', '0.042'], env);
    expect(server.requests[0]?.body).toEqual({
      seq: 1,
      type: 'completed',
      at: expect.any(String),
      outcome: 'failed',
      error: { code: 'tests_failed', message: '3 tests failed' },
      usage: { inputTokens: 1200, outputTokens: 300, costUsd: 0.042 },
    });
  });

  it('refuses a body over 1 MiB locally, sends nothing and spends no seq', async () => {
    await writeFile(join(dir, 'big.json'), JSON.stringify({ blob: 'x'.repeat(1024 * 1024) }));
    const file = await run(['artifact', 'diff-stats', join(dir, 'big.json')], env);
    const stdin = await run(['artifact', 'plan', '-'], env, { stdin: 'y'.repeat(1024 * 1024 - 10) });
    for (const r of [file, stdin]) {
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/larger than 1048576 bytes \(1 MiB\).*not sent/);
    }
    expect(server.requests).toHaveLength(0);
    expect(await readCounter(dir)).toBe(0);
  });

  it('a missing artifact file is exit 1 with the path', async () => {
    const r = await run(['artifact', 'plan', join(dir, 'nope.json')], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/cannot read artifact .*nope\.json: ENOENT/);
  });
});

describe('seq', () => {
  it('increases by one per invocation', async () => {
    await run(['started', '-q'], env);
    await run(['heartbeat', '-q'], env);
    await run(['completed', 'succeeded', '-q'], env);
    expect(server.seqs()).toEqual([1, 2, 3]);
  });

  it('is reused on retry: 503 then 202 gives exit 0 with two identical requests', async () => {
    server.script({ status: 503, body: { error: { code: 'unavailable', message: 'db down' } } });
    const r = await run(['heartbeat', '--progress', '0.1'], env);
    expect(r.code).toBe(0);
    expect(server.requests).toHaveLength(2);
    expect(server.requests[0]?.raw).toBe(server.requests[1]?.raw);
    expect(server.seqs()).toEqual([1, 1]);
    expect(r.stderr).toMatch(/heartbeat #1: attempt 1 failed \(HTTP 503 unavailable: db down\); retrying in/);
    expect(r.stderr).toMatch(/heartbeat #1 recorded \(202\) after 2 attempts\n$/);
    await run(['heartbeat', '-q'], env);
    expect(server.seqs()).toEqual([1, 1, 2]);
  });

  it('20 concurrent invocations sharing a state dir get seqs 1..20', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, () => run(['heartbeat', '-q'], env)));
    expect(results.map((r) => r.code)).toEqual(Array(20).fill(0));
    expect(server.seqs().sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });
});

describe('retries', () => {
  it('honours Retry-After on 429', async () => {
    server.script({ status: 429, headers: { 'retry-after': '7' } });
    const r = await run(['heartbeat', '-q'], env);
    expect(r.code).toBe(0);
    expect(r.sleeps).toEqual([7000]);
  });

  it('retries a dropped connection', async () => {
    server.script('drop');
    const r = await run(['started'], env);
    expect(r.code).toBe(0);
    expect(server.seqs()).toEqual([1, 1]);
  });

  it('retries while nothing listens, until the server is back', async () => {
    const port = server.port;
    await server.close();
    let back = false;
    const restart = async () => {
      if (!back) await server.listen(port);
      back = true;
    };
    const r = await run(['started'], env, { onSleep: restart });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/attempt 1 failed \(ECONNREFUSED/);
    expect(server.seqs()).toEqual([1]);
  });

  it('retries a request that times out', async () => {
    server.script('hang');
    const r = await run(['started'], { ...env, FACTEUR_STEP_TIMEOUT_MS: '150' });
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/attempt 1 failed \(no answer within 150 ms\)/);
    expect(server.seqs()).toEqual([1, 1]);
  });

  it('gives up with exit 75 once the budget is spent', async () => {
    server.script(...Array.from({ length: 50 }, () => ({ status: 502 })));
    const r = await run(['heartbeat'], { ...env, FACTEUR_STEP_MAX_ELAPSED_MS: '5000' });
    expect(r.code).toBe(75);
    expect(r.sleeps.reduce((a, b) => a + b, 0)).toBeLessThan(5000);
    expect(server.requests.length).toBeGreaterThan(3);
    expect(new Set(server.seqs())).toEqual(new Set([1]));
    expect(r.stderr).toMatch(/heartbeat #1 NOT recorded: gave up after \d+ attempts .*last problem: HTTP 502.*try again later/);
  });

  it('gives up at once when Retry-After is beyond the budget', async () => {
    server.script({ status: 503, headers: { 'retry-after': '600' } });
    const r = await run(['heartbeat'], env);
    expect(r.code).toBe(75);
    expect(server.requests).toHaveLength(1);
    expect(r.stderr).toMatch(/server asked to wait 600 s/);
  });
});

describe('answers', () => {
  it('200 (duplicate seq) is success', async () => {
    server.script({ status: 200, body: { duplicate: true } });
    const r = await run(['started'], env);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('facteur-step: started #1 already recorded (200)\n');
  });

  it('400 prints the code, message and every issue, exit 1, no retry', async () => {
    server.script({
      status: 400,
      body: {
        error: {
          code: 'invalid_event',
          message: 'the event is invalid',
          issues: [
            { path: 'progress', message: 'must be ≤ 1' },
            { path: 'artifact.kind', message: 'unknown kind' },
          ],
        },
      },
    });
    const r = await run(['heartbeat'], env);
    expect(r.code).toBe(1);
    expect(server.requests).toHaveLength(1);
    expect(r.stderr).toContain('heartbeat #1 rejected with HTTP 400 invalid_event: the event is invalid');
    expect(r.stderr).toContain('  - progress: must be ≤ 1\n  - artifact.kind: unknown kind\n');
  });

  it('409 is exit 1, except for completed --if-unfinished', async () => {
    const finished = { status: 409, body: { error: { code: 'run_finished', message: 'run already finished' } } };
    server.script(finished, finished, finished);
    const plain = await run(['completed', 'failed'], env);
    expect(plain.code).toBe(1);
    expect(plain.stderr).toMatch(/HTTP 409 run_finished: run already finished \(the attempt is stale/);
    const tolerant = await run(['completed', 'failed', '--if-unfinished'], env);
    expect(tolerant.code).toBe(0);
    // the exit handler's seq is reserved: a pod with a fresh counter cannot collide with seq 1
    expect(tolerant.stderr).toMatch(/completed #2000000000: run already finished \(409 run_finished\); nothing to do/);
    expect(server.requests[1]!.body.seq).toBe(2_000_000_000);
    expect((await run(['completed', 'failed', '--if-unfinished', '-q'], env)).stderr).toBe('');
  });

  it('never prints the token, even when the server echoes it back', async () => {
    server.script({ status: 401, body: { error: { code: 'unauthorized', message: `bad token ${TOKEN}` } } });
    const r = await run(['started'], { ...env, FACTEUR_RUN_TOKEN: `${TOKEN}\n` });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad token [redacted] (the run token was refused');
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });
});

describe('the token file (FACTEUR_RUN_TOKEN_FILE)', () => {
  const withFile = async (content: string | Buffer, extra: Record<string, string> = {}) => {
    const file = join(dir, 'token');
    await writeFile(file, content, { mode: 0o600 });
    const { FACTEUR_RUN_TOKEN: _unused, ...rest } = env;
    return { ...rest, FACTEUR_RUN_TOKEN_FILE: file, ...extra };
  };

  it('sends the token the file holds (its trailing newline dropped), preferred over FACTEUR_RUN_TOKEN', async () => {
    const r = await run(['started'], await withFile(`${TOKEN}\n`, { FACTEUR_RUN_TOKEN: 'stale-env-token' }));
    expect(r.code).toBe(0);
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${TOKEN}`);
  });

  it('never prints the token from the file, even when the server echoes it back', async () => {
    server.script({ status: 401, body: { error: { code: 'unauthorized', message: `bad token ${TOKEN}` } } });
    const r = await run(['started'], await withFile(`${TOKEN}\n`));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('bad token [redacted] (the run token was refused');
  });

  it('a missing, empty or oversized file is exit 2, names the file, and sends nothing', async () => {
    const missing = await run(['started'], { ...(await withFile(TOKEN)), FACTEUR_RUN_TOKEN_FILE: join(dir, 'nope') });
    const empty = await run(['started'], await withFile(''));
    const huge = await run(['started'], await withFile('x'.repeat(5000)));
    const aDir = await run(['started'], { ...(await withFile(TOKEN)), FACTEUR_RUN_TOKEN_FILE: dir });
    expect([missing.code, empty.code, huge.code, aDir.code]).toEqual([2, 2, 2, 2]);
    expect(missing.stderr).toContain(`cannot read FACTEUR_RUN_TOKEN_FILE ${join(dir, 'nope')}: ENOENT`);
    expect(empty.stderr).toMatch(/FACTEUR_RUN_TOKEN_FILE .*token is empty/);
    expect(huge.stderr).toMatch(/larger than 4096 bytes/);
    expect(aDir.stderr).toMatch(/not a regular file/);
    expect(server.requests).toHaveLength(0);
  });
});

describe('usage', () => {
  it.each([[[]], [['heartbeat', '--progress', '7']], [['artifact', 'poem', '-']], [['completed']]])(
    '%j is exit 2 with the usage, and sends nothing',
    async (argv) => {
      const r = await run(argv, env);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/usage: facteur-step <command>/);
      expect(server.requests).toHaveLength(0);
    },
  );

  it('a missing environment is exit 2 and names the variables', async () => {
    const r = await run(['started'], { FACTEUR_RUN_TOKEN: TOKEN });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/FACTEUR_CALLBACK_URL is required/);
    expect((await run(['started'], { FACTEUR_CALLBACK_URL: server.url })).stderr).toMatch(/FACTEUR_RUN_TOKEN_FILE or FACTEUR_RUN_TOKEN is required/);
  });

  it('--help prints the usage on stdout, exit 0, without needing the environment', async () => {
    const r = await run(['--help'], {});
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^usage: facteur-step/);
    expect(r.stdout).toMatch(/test-report/);
  });
});
