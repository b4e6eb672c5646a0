// The step side of the callbacks contract (CONTRACTS §7): `facteur-step`, run inside Argo
// steps, numbers each event (seq) across invocations and delivers it with retries.
//
// Glossary: an *event* is one POST to /v1/runs/{runId}/events; its *seq* is the per-run
// number that makes a resend idempotent; the *state dir* holds the seq counter of one run.
export {
  ARTIFACT_KINDS,
  defaultStateDir,
  parseInvocation,
  parseStepEnv,
  USAGE,
  UsageError,
  type ArtifactKind,
  type ArtifactSource,
  type EventType,
  type Invocation,
  type Outcome,
  type StepCommand,
  type StepEnv,
  type TokenFileRead,
} from './command.js';
export { nextSeq, readCounter, type SeqOptions } from './seq.js';
export {
  backoffMs,
  isRetryableStatus,
  parseRetryAfter,
  sendEvent,
  stopOf,
  type SendDeps,
  type StopOrder,
  type SendRequest,
  type SendResult,
  type ServerError,
  type ServerIssue,
} from './send.js';
export {
  decodeArtifact,
  eventBody,
  EXIT_FAILURE,
  EXIT_OK,
  EXIT_STOPPED,
  EXIT_TEMPFAIL,
  EXIT_USAGE,
  LocalError,
  MAX_BODY_BYTES,
  MAX_TOKEN_FILE_BYTES,
  readArtifact,
  readTokenFile,
  runStep,
  type StepDeps,
  type StepIo,
} from './cli.js';
export { createReporter, ReportError, type Reporter, type Usage } from './reporter.js';
