// What `facteur-agent` reads from its environment, every variable in one place (the README's
// "facteur-agent" section lists the same). The WorkflowTemplates and local mode's runner set
// the run's own (input/output dirs, callback URL and token file, run id, attempt, head/base);
// the operator sets the rest (the agent command, timeouts, credentials, deploy commands).
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Secret } from '../config/secret.js';
import { ValidationError, type Issue } from '../errors/index.js';

export type MergeMethod = 'merge' | 'squash' | 'rebase';

/** Every FACTEUR_* variable facteur-agent reads (the control plane's config knows them too). */
export const AGENT_VARIABLES = [
  'FACTEUR_INPUT_DIR', 'FACTEUR_OUTPUT_DIR', 'FACTEUR_WORK_DIR', 'FACTEUR_RUN_ID', 'FACTEUR_ATTEMPT',
  'FACTEUR_AGENT_COMMAND', 'FACTEUR_AGENT_ENV', 'FACTEUR_AGENT_TIMEOUT_S', 'FACTEUR_GATE_TIMEOUT_S',
  'FACTEUR_HEARTBEAT_SECONDS', 'FACTEUR_OUTPUT_CAP_BYTES', 'FACTEUR_GITHUB_API_URL', 'FACTEUR_LOCAL_REPOS',
  'FACTEUR_GIT_BASE_URL', 'FACTEUR_MERGE_METHOD', 'FACTEUR_TAG_RELEASES', 'FACTEUR_DEPLOY_COMMAND',
  'FACTEUR_DEPLOY_VERIFY_COMMAND', 'FACTEUR_DEPLOY_TIMEOUT_S', 'FACTEUR_GIT_AUTHOR_NAME', 'FACTEUR_GIT_AUTHOR_EMAIL',
] as const;

export interface AgentEnv {
  readonly inputDir: string;
  readonly outputDir: string;
  /** Cache clones, worktrees and their locks (FACTEUR_WORK_DIR). */
  readonly workDir: string;
  readonly runId: string;
  readonly attempt: number;
  /** The coding agent as argv (FACTEUR_AGENT_COMMAND); undefined when not configured. */
  readonly agentCommand: readonly string[] | undefined;
  /** Further variables handed to the agent (FACTEUR_AGENT_ENV, names only: API keys…). */
  readonly agentEnv: readonly string[];
  readonly agentTimeoutMs: number;
  readonly gateTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly outputCapBytes: number;
  readonly githubToken: Secret | undefined;
  readonly githubApiUrl: string | undefined;
  readonly localRepos: string | undefined;
  readonly gitBaseUrl: string | undefined;
  readonly mergeMethod: MergeMethod;
  readonly tagReleases: boolean;
  readonly deployCommand: readonly string[] | undefined;
  readonly deployVerifyCommand: readonly string[] | undefined;
  readonly deployTimeoutMs: number;
  readonly author: { readonly name: string; readonly email: string };
  /** The run's head and base branches as the Workflow gives them (CODEX_HEAD, CODEX_BASE). */
  readonly head: string | undefined;
  readonly base: string | undefined;
}

/**
 * A command from the environment: a JSON array of strings (`["codex","exec","--json"]`), or
 * words separated by spaces (`node examples/agent/example-agent.mjs`). Never run through a
 * shell: the prompt reaches the agent as a file (FACTEUR_PROMPT_FILE), not as an argument.
 */
export function parseCommand(raw: string | undefined, name: string, issues: Issue[]): string[] | undefined {
  const text = raw?.trim();
  if (!text) return undefined;
  if (text.startsWith('[')) {
    try {
      const argv: unknown = JSON.parse(text);
      if (Array.isArray(argv) && argv.length > 0 && argv.every((a) => typeof a === 'string' && a !== '')) return argv as string[];
    } catch {
      // reported below
    }
    issues.push({ path: name, message: 'must be a JSON array of non-empty strings, or words separated by spaces' });
    return undefined;
  }
  return text.split(/\s+/);
}

function seconds(env: NodeJS.ProcessEnv, name: string, fallback: number, issues: Issue[]): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback * 1000;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > 7 * 86_400) {
    issues.push({ path: name, message: `must be a number of seconds in (0, 604800], got ${JSON.stringify(raw.slice(0, 40))}` });
    return fallback * 1000;
  }
  return Math.round(n * 1000);
}

export function parseAgentEnv(env: NodeJS.ProcessEnv): AgentEnv {
  const issues: Issue[] = [];
  const required = (name: string): string => {
    const v = env[name];
    if (!v) issues.push({ path: name, message: 'is required' });
    return v ?? '';
  };
  const inputDir = required('FACTEUR_INPUT_DIR');
  const outputDir = required('FACTEUR_OUTPUT_DIR');
  const attempt = Number(env.FACTEUR_ATTEMPT ?? '1');
  if (!Number.isInteger(attempt) || attempt < 1) issues.push({ path: 'FACTEUR_ATTEMPT', message: 'must be a positive integer' });
  const merge = (env.FACTEUR_MERGE_METHOD ?? 'merge') as MergeMethod;
  if (!['merge', 'squash', 'rebase'].includes(merge)) issues.push({ path: 'FACTEUR_MERGE_METHOD', message: 'must be merge, squash or rebase' });
  const cap = Number(env.FACTEUR_OUTPUT_CAP_BYTES ?? 1024 * 1024);
  if (!Number.isInteger(cap) || cap < 1024 || cap > 64 * 1024 * 1024) issues.push({ path: 'FACTEUR_OUTPUT_CAP_BYTES', message: 'must be an integer in [1024, 67108864]' });
  const parsed: AgentEnv = {
    inputDir,
    outputDir,
    workDir: env.FACTEUR_WORK_DIR || join(tmpdir(), 'facteur-work'),
    runId: env.FACTEUR_RUN_ID || 'run',
    attempt: Number.isInteger(attempt) && attempt >= 1 ? attempt : 1,
    agentCommand: parseCommand(env.FACTEUR_AGENT_COMMAND, 'FACTEUR_AGENT_COMMAND', issues),
    agentEnv: (env.FACTEUR_AGENT_ENV ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    agentTimeoutMs: seconds(env, 'FACTEUR_AGENT_TIMEOUT_S', 3600, issues),
    gateTimeoutMs: seconds(env, 'FACTEUR_GATE_TIMEOUT_S', 1200, issues),
    heartbeatMs: seconds(env, 'FACTEUR_HEARTBEAT_SECONDS', 60, issues),
    outputCapBytes: Number.isInteger(cap) ? cap : 1024 * 1024,
    githubToken: env.GH_TOKEN ? new Secret(env.GH_TOKEN) : undefined,
    githubApiUrl: env.FACTEUR_GITHUB_API_URL || undefined,
    localRepos: env.FACTEUR_LOCAL_REPOS || undefined,
    gitBaseUrl: env.FACTEUR_GIT_BASE_URL || undefined,
    mergeMethod: merge,
    tagReleases: env.FACTEUR_TAG_RELEASES === '1' || env.FACTEUR_TAG_RELEASES === 'true',
    deployCommand: parseCommand(env.FACTEUR_DEPLOY_COMMAND, 'FACTEUR_DEPLOY_COMMAND', issues),
    deployVerifyCommand: parseCommand(env.FACTEUR_DEPLOY_VERIFY_COMMAND, 'FACTEUR_DEPLOY_VERIFY_COMMAND', issues),
    deployTimeoutMs: seconds(env, 'FACTEUR_DEPLOY_TIMEOUT_S', 1800, issues),
    author: { name: env.FACTEUR_GIT_AUTHOR_NAME || 'Facteur agent', email: env.FACTEUR_GIT_AUTHOR_EMAIL || 'facteur-agent@localhost' },
    head: env.CODEX_HEAD || undefined,
    base: env.CODEX_BASE || undefined,
  };
  if (issues.length > 0) throw new ValidationError('facteur-agent is not configured correctly', issues, 'invalid_agent_env');
  return parsed;
}
