import { describe, expect, it } from 'vitest';
import { inspect } from 'node:util';
import {
  backoffMs,
  decodeArtifact,
  defaultStateDir,
  parseInvocation,
  parseRetryAfter,
  parseStepEnv,
  UsageError,
} from '../../shared/step/index.js';

describe('parseInvocation', () => {
  it.each([
    [['started'], { type: 'started', quiet: false, ifUnfinished: false }],
    [['started', '--message', 'hi', '-q'], { type: 'started', message: 'hi', quiet: true }],
    [['heartbeat', '--progress', '0.5', '--message', 'half'], { type: 'heartbeat', progress: 0.5, message: 'half' }],
    [['heartbeat', '--progress=1'], { type: 'heartbeat', progress: 1 }],
    [['artifact', 'plan', 'plan.json'], { type: 'artifact', artifact: { kind: 'plan', path: 'plan.json' } }],
    [['artifact', 'diff-stats', '-'], { type: 'artifact', artifact: { kind: 'diff-stats', path: '-' } }],
    [['completed', 'succeeded', '--input-tokens', '10', '--cost-usd', '0.25'], {
      type: 'completed',
      outcome: 'succeeded',
      usage: { inputTokens: 10, costUsd: 0.25 },
    }],
    [['completed', 'failed', '--error-code', 'tests_failed', '--if-unfinished'], {
      type: 'completed',
      outcome: 'failed',
      error: { code: 'tests_failed', message: 'tests_failed' },
      ifUnfinished: true,
    }],
  ])('%j', (argv, expected) => {
    const inv = parseInvocation(argv);
    expect(inv.help).toBe(false);
    if (!inv.help) expect(inv.command).toMatchObject(expected);
  });

  it('recognises --help anywhere', () => {
    expect(parseInvocation(['--help'])).toEqual({ help: true });
    expect(parseInvocation(['heartbeat', '-h'])).toEqual({ help: true });
  });

  it.each([
    [[], /command is required/],
    [['finish'], /unknown command "finish"/],
    [['started', 'extra'], /takes 0 arguments/],
    [['started', '--progress', '0.5'], /started does not take --progress/],
    [['heartbeat', '--progress', '1.5'], /between 0 and 1/],
    [['heartbeat', '--progress', 'abc'], /between 0 and 1/],
    [['heartbeat', '--progress', '-1'], /ambiguous/],
    [['heartbeat', '--bogus'], /Unknown option '--bogus'/],
    [['artifact', 'plan'], /takes 2 arguments/],
    [['artifact', 'poem', 'x.json'], /unknown artifact kind "poem"/],
    [['completed'], /takes 1 argument/],
    [['completed', 'done'], /succeeded or failed/],
    [['completed', 'succeeded', '--error-code', 'x'], /only go with failed/],
    [['completed', 'failed', '--error-message', 'boom'], /needs --error-code/],
    [['completed', 'failed', '--input-tokens', '1.5'], /whole number/],
    [['completed', 'failed', '--cost-usd', '-2'], /ambiguous/],
    [['completed', 'failed', '--cost-usd=-2'], /≥ 0/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseInvocation(argv)).toThrow(UsageError);
    expect(() => parseInvocation(argv)).toThrow(message);
  });
});

describe('parseStepEnv', () => {
  it('applies defaults and keeps the token out of every printout', () => {
    const env = parseStepEnv({ FACTEUR_CALLBACK_URL: 'http://cb/v1/runs/r/events', FACTEUR_RUN_TOKEN: 'abc123\n', TMPDIR: '/t' });
    expect(env.timeoutMs).toBe(10_000);
    expect(env.maxElapsedMs).toBe(120_000);
    expect(env.stateDir).toMatch(/^\/t\/facteur-step-[0-9a-f]{16}$/);
    expect(env.token.reveal()).toBe('abc123');
    expect(JSON.stringify(env) + inspect(env) + String(env.token)).not.toContain('abc123');
  });

  it('gives each callback URL its own default state dir', () => {
    const a = defaultStateDir('http://cb/v1/runs/a/events', { TMPDIR: '/t' });
    expect(a).not.toBe(defaultStateDir('http://cb/v1/runs/b/events', { TMPDIR: '/t' }));
  });

  it('lists every problem at once, without the token', () => {
    const bad = { FACTEUR_CALLBACK_URL: 'ftp://x', FACTEUR_RUN_TOKEN: 'sec ret', FACTEUR_STEP_TIMEOUT_MS: '0' };
    let message = '';
    try {
      parseStepEnv(bad);
    } catch (err) {
      expect(err).toBeInstanceOf(UsageError);
      message = (err as Error).message;
    }
    expect(message).toMatch(/FACTEUR_CALLBACK_URL must be an http\(s\) URL/);
    expect(message).toMatch(/FACTEUR_RUN_TOKEN has characters/);
    expect(message).toMatch(/FACTEUR_STEP_TIMEOUT_MS/);
    expect(message).not.toContain('sec ret');
    expect(() => parseStepEnv({})).toThrow(/FACTEUR_CALLBACK_URL is required; FACTEUR_RUN_TOKEN_FILE or FACTEUR_RUN_TOKEN is required/);
  });

  const url = { FACTEUR_CALLBACK_URL: 'http://cb/v1/runs/r/events' };
  it('prefers the token file (a mounted Secret) over FACTEUR_RUN_TOKEN, trimmed', () => {
    const env = parseStepEnv({ ...url, FACTEUR_RUN_TOKEN_FILE: '/run/token', FACTEUR_RUN_TOKEN: 'from-env' }, { text: 'from-file\n' });
    expect(env.token.reveal()).toBe('from-file');
    expect(parseStepEnv({ ...url, FACTEUR_RUN_TOKEN: ' from-env ' }).token.reveal()).toBe('from-env');
    // an empty FACTEUR_RUN_TOKEN_FILE is as good as unset
    expect(parseStepEnv({ ...url, FACTEUR_RUN_TOKEN_FILE: '', FACTEUR_RUN_TOKEN: 'from-env' }).token.reveal()).toBe('from-env');
  });

  it('reports a token file it could not read, an empty one, or one with bad characters, naming the file and never the token', () => {
    const fails = (tokenFile: { text: string } | { error: string } | undefined) => {
      try {
        parseStepEnv({ ...url, FACTEUR_RUN_TOKEN_FILE: '/run/token', FACTEUR_RUN_TOKEN: 'fallback' }, tokenFile);
      } catch (err) {
        expect(err).toBeInstanceOf(UsageError);
        return (err as Error).message;
      }
      return 'no error';
    };
    // no silent fallback to FACTEUR_RUN_TOKEN: the file was asked for
    expect(fails({ error: 'ENOENT' })).toBe('cannot read FACTEUR_RUN_TOKEN_FILE /run/token: ENOENT');
    expect(fails({ text: '\n' })).toBe('FACTEUR_RUN_TOKEN_FILE /run/token is empty');
    expect(fails({ text: 'sec ret' })).toBe('FACTEUR_RUN_TOKEN_FILE has characters not allowed in an HTTP header');
    expect(fails(undefined)).toBe('FACTEUR_RUN_TOKEN_FILE /run/token was not read');
  });
});

describe('helpers', () => {
  it('decodes JSON artifacts and keeps anything else as text', () => {
    expect(decodeArtifact(Buffer.from('{"a":[1,2]}'))).toEqual({ a: [1, 2] });
    expect(decodeArtifact(Buffer.from('\uFEFF[1]'))).toEqual([1]);
    expect(decodeArtifact(Buffer.from('# Review\nlooks good'))).toBe('# Review\nlooks good');
    expect(decodeArtifact(Buffer.from(''))).toBe('');
  });

  it('backs off exponentially with jitter, capped', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n, () => 0))).toEqual([125, 250, 500, 1000]);
    expect(backoffMs(3, () => 0.999)).toBeLessThanOrEqual(1000);
    expect(backoffMs(40, () => 1)).toBe(15_000);
  });

  it('reads Retry-After as seconds or a date', () => {
    const now = Date.parse('2025-01-01T00:00:00Z');
    expect(parseRetryAfter('3', now)).toBe(3000);
    expect(parseRetryAfter('Wed, 01 Jan 2025 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter(null, now)).toBeUndefined();
    expect(parseRetryAfter('soon', now)).toBeUndefined();
  });
});
