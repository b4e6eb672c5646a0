// `facteur-agent <planning|implementation|review|integration|deploy>`: the program a
// WorkflowTemplate's container runs (and local mode's runner, as a child process). It
// reports the run itself through the same callbacks client as `facteur-step`
// (shared/step/reporter.ts): `started`, heartbeats while the agent and the gates run, each
// artifact as soon as it exists, then `completed` with the agent's usage, or `failed` with
// the failure's code and normalized signature. Every variable it reads: ./env.ts.
//
// Exit codes: 0 succeeded, 1 failed (and reported so: the control plane decides what next;
// Argo shows the step failed), 2 bad usage, 3 stopped by the control plane (a heartbeat's
// answer said stop — a budget exceeded: the agent's process group is killed, nothing more
// is reported, the run is already cancelled), 75 the callbacks function could not be
// reached (the template's exit handler then reports `failed --if-unfinished`).
import { messageOf, NonRetriableError, RetryableError, ValidationError } from '../errors/index.js';
import { EXIT_STOPPED } from '../step/cli.js';
import { createReporter, ReportError, type Reporter } from '../step/reporter.js';
import type { StopOrder } from '../step/send.js';
import { parseAgentEnv } from './env.js';
import { readInputs } from './inputs.js';
import { ensureDirs, runStage, StageFailure } from './stages.js';

export const STAGES = ['planning', 'implementation', 'review', 'integration', 'deploy'] as const;

export const AGENT_USAGE = `usage: facteur-agent <${STAGES.join('|')}>

Runs one stage of a Facteur run in a git worktree of the run's repository and reports it
(started, heartbeats, artifacts, completed) to FACTEUR_CALLBACK_URL. Inputs are read from
FACTEUR_INPUT_DIR (event-body.json, intent-anchor.md, retrieved-context.md), outputs written
to FACTEUR_OUTPUT_DIR. Configuration: FACTEUR_AGENT_COMMAND (the coding agent), FACTEUR_WORK_DIR,
timeouts, GH_TOKEN, FACTEUR_DEPLOY_COMMAND… (the README's "facteur-agent" section lists all).
`;

export interface AgentIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

export async function runAgentCli(argv: readonly string[], env: NodeJS.ProcessEnv, io: AgentIo): Promise<number> {
  const stage = argv[0];
  if (stage === '--help' || stage === '-h') {
    io.stdout(AGENT_USAGE);
    return 0;
  }
  if (!stage || !(STAGES as readonly string[]).includes(stage) || argv.length > 1) {
    io.stderr(`facteur-agent: ${stage ? `unknown stage or extra arguments: ${argv.join(' ').slice(0, 200)}` : 'a stage is required'}\n\n${AGENT_USAGE}`);
    return 2;
  }
  let reporter: Reporter;
  try {
    reporter = await createReporter(env);
  } catch (err) {
    io.stderr(`facteur-agent: cannot report this run: ${messageOf(err)}\n`);
    return 2;
  }
  const say = (line: string) => io.stderr(reporter.redact(`facteur-agent: ${line}\n`));
  try {
    await reporter.started(`${stage} attempt ${env.FACTEUR_ATTEMPT ?? '1'}`);
    const outcome = await work(stage, env, reporter, say);
    if (outcome.stopped) {
      say(`${stage} stopped by the control plane: ${outcome.stopped.reason}${outcome.stopped.message ? `: ${outcome.stopped.message}` : ''}`);
      return EXIT_STOPPED;
    }
    if (outcome.ok) {
      const stopped = await reporter.completed('succeeded', outcome.usage ? { usage: outcome.usage } : {});
      if (stopped) {
        say(`${stage} finished past its budget; the control plane cancelled the run: ${stopped.message || stopped.reason}`);
        return EXIT_STOPPED;
      }
      say(`${stage} succeeded${outcome.message ? `: ${outcome.message}` : ''}`);
    } else {
      await reporter.completed('failed', { error: { code: outcome.code, message: outcome.message.slice(0, 3900) } });
      say(`${stage} failed: ${outcome.code}: ${outcome.message}`);
      return 1;
    }
    return 0;
  } catch (err) {
    // only reporting itself gets here: the stage's own failures were reported above
    say(messageOf(err));
    return err instanceof ReportError && err.result?.kind === 'rejected' ? 1 : 75;
  }
}

type Outcome = ({ ok: true; usage?: { inputTokens?: number; outputTokens?: number; costUsd?: number }; message?: string } | { ok: false; code: string; message: string }) & { stopped?: StopOrder };

async function work(stage: string, env: NodeJS.ProcessEnv, reporter: Reporter, say: (line: string) => void): Promise<Outcome> {
  // a heartbeat answered "stop": the running command's process group is killed, the stage ends
  const stop = new AbortController();
  let stopped: StopOrder | undefined;
  const onStop = (order: StopOrder) => {
    stopped ??= order;
    stop.abort();
  };
  try {
    const outcome = await attempt(stage, env, reporter, say, onStop, stop.signal);
    return stopped ? { ...outcome, stopped } : outcome;
  } catch (err) {
    // what the stage reported after the stop is refused (the run is cancelled): still a stop
    if (stopped) return { ok: false, code: 'budget_exceeded', message: stopped.message, stopped };
    throw err;
  }
}

async function attempt(stage: string, env: NodeJS.ProcessEnv, reporter: Reporter, say: (line: string) => void, onStop: (order: StopOrder) => void, signal: AbortSignal): Promise<Outcome> {
  try {
    const agentEnv = parseAgentEnv(env);
    await ensureDirs(agentEnv);
    const inputs = await readInputs(agentEnv.inputDir);
    if (inputs.body.stage !== stage) {
      return { ok: false, code: 'invalid_input', message: `event-body.json is for stage ${inputs.body.stage}, not ${stage}` };
    }
    let lastBeat = Date.now();
    const tick = (message: string, usage?: { inputTokens?: number; outputTokens?: number; costUsd?: number }) => {
      if (Date.now() - lastBeat < agentEnv.heartbeatMs) return;
      lastBeat = Date.now();
      void reporter.heartbeat(undefined, message, usage).then(
        (order) => order && onStop(order),
        (err) => say(`heartbeat not recorded: ${messageOf(err)}`),
      );
    };
    // heartbeats also between long commands (fetches, merges, API calls)
    const timer = setInterval(() => tick(`${stage} running`), agentEnv.heartbeatMs);
    timer.unref();
    try {
      const result = await runStage({ env: agentEnv, inputs, artifact: (kind, data) => reporter.artifact(kind, data), tick, processEnv: env, signal });
      return { ok: true, ...(result.usage ? { usage: result.usage } : {}), ...(result.message ? { message: result.message } : {}) };
    } finally {
      clearInterval(timer);
    }
  } catch (err) {
    if (err instanceof ReportError) throw err;
    return failed(err);
  }
}

/** Every failure as a code from the fixed family, its normalized signature in the message. */
function failed(err: unknown): { ok: false; code: string; message: string } {
  if (err instanceof StageFailure) {
    return { ok: false, code: err.code, message: err.signature ? `${err.message} [signature: ${err.signature}]` : err.message };
  }
  if (err instanceof ValidationError) {
    return { ok: false, code: err.code, message: `${err.message}: ${err.issues.map((i) => `${i.path} ${i.message}`).join('; ')}` };
  }
  if (err instanceof NonRetriableError || err instanceof RetryableError) return { ok: false, code: err.code, message: err.message };
  return { ok: false, code: 'agent_error', message: messageOf(err) };
}
