// facteur-agent's command line and environment: every bad variable named at once, commands
// as argv (never a shell string), and the usage answers before anything is reported.
import { describe, expect, it } from 'vitest';
import { runAgentCli } from '../../../shared/agent/cli.js';
import { parseAgentEnv, parseCommand } from '../../../shared/agent/env.js';
import { ValidationError } from '../../../shared/errors/index.js';

const base = { FACTEUR_INPUT_DIR: '/in', FACTEUR_OUTPUT_DIR: '/out' };

describe('facteur-agent environment', () => {
  it('has defaults for everything but the input and output dirs', () => {
    const env = parseAgentEnv(base);
    expect(env).toMatchObject({ attempt: 1, agentCommand: undefined, mergeMethod: 'merge', agentTimeoutMs: 3_600_000, heartbeatMs: 60_000 });
    expect(env.githubToken).toBeUndefined();
  });

  it('names every bad variable at once', () => {
    const err = (() => {
      try {
        parseAgentEnv({ FACTEUR_ATTEMPT: '0', FACTEUR_MERGE_METHOD: 'octopus', FACTEUR_AGENT_TIMEOUT_S: 'soon', FACTEUR_AGENT_COMMAND: '["ok", 3]', FACTEUR_OUTPUT_CAP_BYTES: '12' });
      } catch (e) {
        return e;
      }
    })() as ValidationError;
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.issues.map((i) => i.path).sort()).toEqual([
      'FACTEUR_AGENT_COMMAND', 'FACTEUR_AGENT_TIMEOUT_S', 'FACTEUR_ATTEMPT', 'FACTEUR_INPUT_DIR', 'FACTEUR_MERGE_METHOD', 'FACTEUR_OUTPUT_CAP_BYTES', 'FACTEUR_OUTPUT_DIR',
    ]);
  });

  it('keeps the GitHub token a secret', () => {
    const env = parseAgentEnv({ ...base, GH_TOKEN: 'ghp_secret' });
    expect(JSON.stringify(env)).not.toContain('ghp_secret');
    expect(env.githubToken?.reveal()).toBe('ghp_secret');
  });

  it.each([
    ['["codex","exec","-"]', ['codex', 'exec', '-']],
    ['node examples/agent/example-agent.mjs', ['node', 'examples/agent/example-agent.mjs']],
    ['  sh  -c   ', ['sh', '-c']],
    ['echo $(touch PWNED)', ['echo', '$(touch', 'PWNED)']], // words, never a shell
  ])('reads the command %j as argv', (raw, argv) => {
    expect(parseCommand(raw, 'X', [])).toEqual(argv);
  });
});

describe('facteur-agent command line', () => {
  const io = () => {
    const out = { stdout: '', stderr: '' };
    return { out, io: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) } };
  };

  it('prints its usage', async () => {
    const { out, io: x } = io();
    expect(await runAgentCli(['--help'], {}, x)).toBe(0);
    expect(out.stdout).toMatch(/^usage: facteur-agent <planning\|implementation\|review\|integration\|deploy>/);
  });

  it.each([[[]], [['nonsense']], [['planning', 'extra']]])('refuses %j with exit 2 and the usage, reporting nothing', async (argv) => {
    const { out, io: x } = io();
    expect(await runAgentCli(argv as string[], { FACTEUR_CALLBACK_URL: 'http://127.0.0.1:9/never' }, x)).toBe(2);
    expect(out.stderr).toContain('usage: facteur-agent');
  });

  it('without a callback URL and token, exits 2 saying so', async () => {
    const { out, io: x } = io();
    expect(await runAgentCli(['planning'], {}, x)).toBe(2);
    expect(out.stderr).toMatch(/cannot report this run: .*FACTEUR_CALLBACK_URL/);
  });
});
