// The one way facteur-agent runs git: the real `git` CLI as a child process with an argv
// array (no shell, so no input is ever parsed as shell syntax), a fixed environment (no
// prompts, English messages so failures can be classified), and — when a token is given —
// a credential helper that reads it from an environment variable set only for that child.
// The token is therefore never in a URL, an argument, a config file or a log line; what git
// prints is scrubbed of it before it reaches an error message.
import { spawn } from 'node:child_process';
import { NonRetriableError, RetryableError } from '../../errors/index.js';

/** Anything that holds a token and reveals it on request (`shared/config/secret.ts`). */
export interface SecretLike {
  reveal(): string;
}

export interface GitOptions {
  /** Working directory of the child (a worktree, or anywhere for `--git-dir` calls). */
  readonly cwd?: string;
  /** Sent to a credential helper for this one call; never written anywhere. */
  readonly token?: SecretLike | undefined;
  /** Written to git's stdin. */
  readonly input?: string;
  /** Extra environment (author identity and the like). */
  readonly env?: Readonly<Record<string, string>>;
  /** Kill git after this long (network calls can hang on a dead peer). Default 10 min. */
  readonly timeoutMs?: number;
  /** Exit codes that are answers, not failures (`git diff --quiet` says 1 for "differs"). */
  readonly okCodes?: readonly number[];
}

export interface GitResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Where the helper finds the token; set in the child's environment only. */
export const TOKEN_ENV = 'FACTEUR_GIT_TOKEN';

// git runs this through its own shell; the text is constant, the token arrives through the
// environment. It answers only `get` (a `store`/`erase` must not echo the token back).
const CREDENTIAL_HELPER =
  `!f() { test "$1" = get || exit 0; echo username=x-access-token; echo "password=$${TOKEN_ENV}"; }; f`;

/** `-c` options that make git use the helper above and nothing configured elsewhere. */
export function credentialArgs(token: SecretLike | undefined): string[] {
  if (!token) return [];
  // the empty value clears helpers from system/global config (a stored password must not win)
  return ['-c', 'credential.helper=', '-c', `credential.helper=${CREDENTIAL_HELPER}`];
}

// Variables that would point git at another repository, index or config than the one we name.
const INHERITED_GIT_VARS = /^GIT_(DIR|WORK_TREE|INDEX_FILE|OBJECT_DIRECTORY|ALTERNATE_OBJECT_DIRECTORIES|NAMESPACE|CEILING_DIRECTORIES|COMMON_DIR|CONFIG_PARAMETERS|CONFIG_COUNT|CONFIG_KEY_\d+|CONFIG_VALUE_\d+|ASKPASS|AUTHOR_\w+|COMMITTER_\w+)$/;

/** The child's environment: ours minus git redirections, plus the fixed settings. */
export function gitEnv(token: SecretLike | undefined, extra: Readonly<Record<string, string>> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!INHERITED_GIT_VARS.test(k) && k !== TOKEN_ENV) env[k] = v;
  }
  Object.assign(env, {
    GIT_TERMINAL_PROMPT: '0',
    GCM_INTERACTIVE: 'never',
    SSH_ASKPASS: '',
    LC_ALL: 'C',
    LANG: 'C',
    LANGUAGE: '',
  }, extra);
  if (token) env[TOKEN_ENV] = token.reveal();
  return env;
}

/** `text` with the token and any `user:password@` in URLs replaced. */
export function scrub(text: string, token?: SecretLike): string {
  let out = text.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]+@/gi, '$1[redacted]@');
  const secret = token?.reveal();
  if (secret) out = out.split(secret).join('[secret]');
  return out;
}

/** A failed git call: the command (our arguments only: never a secret) and its scrubbed stderr. */
export class GitCommandError extends Error {
  constructor(
    readonly args: readonly string[],
    readonly code: number,
    readonly stderr: string,
    readonly stdout: string,
  ) {
    super(`git ${args.join(' ')} exited ${code}: ${stderr.trim() || stdout.trim()}`);
    this.name = 'GitCommandError';
  }
}

/**
 * Runs `git <args>` and resolves with its output. A non-zero exit (not in `okCodes`) rejects
 * with a GitCommandError whose stderr is already scrubbed; a timeout or a missing `git`
 * rejects with a RetryableError / NonRetriableError.
 */
export function git(args: readonly string[], opts: GitOptions = {}): Promise<GitResult> {
  const argv = [...credentialArgs(opts.token), ...args];
  const timeoutMs = opts.timeoutMs ?? 600_000;
  return new Promise((resolve, reject) => {
    const child = spawn('git', argv, {
      cwd: opts.cwd,
      env: gitEnv(opts.token, opts.env),
      shell: false,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(e.code === 'ENOENT'
        ? new NonRetriableError('git_missing', 'the git command is not installed (not found on PATH)', { cause: e })
        : e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = scrub(Buffer.concat(err).toString('utf8'), opts.token);
      if (timedOut) {
        reject(new RetryableError('network', `git ${args[0] ?? ''} did not finish within ${timeoutMs} ms (killed)`));
        return;
      }
      const exit = code ?? (signal ? 128 : 0);
      if (exit === 0 || opts.okCodes?.includes(exit)) resolve({ code: exit, stdout, stderr });
      else reject(new GitCommandError(args, exit, stderr, scrub(stdout, opts.token)));
    });
    // a child that exits before reading its stdin must not crash us with EPIPE
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

const NOT_FOUND = [
  /repository '.*' not found/i,
  /repository not found/i,
  /does not appear to be a git repository/i,
  /returned error: 404/i,
  /not a git repository/i,
  /no such file or directory/i,
];
const AUTH = [
  /authentication failed/i,
  /could not read (username|password)/i,
  /terminal prompts disabled/i,
  /returned error: 40[13]/i,
  /invalid username or password/i,
  /permission denied \(publickey/i,
  /permission to .* denied/i,
];
const NETWORK = [
  /could not resolve host/i,
  /connection (refused|reset|timed out)/i,
  /failed to connect/i,
  /operation timed out/i,
  /the remote end hung up unexpectedly/i,
  /early eof/i,
  /rpc failed/i,
  /returned error: (5\d\d|429)/i,
  /unexpected disconnect/i,
  /gnutls|ssl_|tls connection/i,
  /network is unreachable/i,
  /empty reply from server/i,
];

/**
 * What a failed git call that talked to the remote means for the caller: the repository is
 * missing, the credentials are refused (neither gets better by retrying), or the network
 * failed (retry later). `what` says which call it was, for the message.
 */
export function remoteFailure(err: unknown, what: string): Error {
  if (!(err instanceof GitCommandError)) return err instanceof Error ? err : new Error(String(err));
  const text = err.stderr;
  const detail = `${what}: ${text.trim() || `git exited ${err.code}`}`;
  // auth before not-found: GitHub answers a private repository without access with both
  if (AUTH.some((r) => r.test(text))) return new NonRetriableError('auth_failed', detail, { cause: err });
  if (NOT_FOUND.some((r) => r.test(text))) return new NonRetriableError('repository_not_found', detail, { cause: err });
  if (NETWORK.some((r) => r.test(text))) return new RetryableError('network', detail, undefined, { cause: err });
  return new NonRetriableError('git_failed', detail, { cause: err });
}

/** A failed local git call (no remote involved) as the error callers handle. */
export function localFailure(err: unknown, what: string): Error {
  if (!(err instanceof GitCommandError)) return err instanceof Error ? err : new Error(String(err));
  return new NonRetriableError('git_failed', `${what}: ${err.stderr.trim() || err.stdout.trim() || `git exited ${err.code}`}`, { cause: err });
}

/** The full sha `ref` names as a commit, or undefined when it names none. */
export async function resolveCommit(gitArgs: readonly string[], ref: string, cwd?: string): Promise<string | undefined> {
  const r = await git([...gitArgs, 'rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`], {
    ...(cwd ? { cwd } : {}),
    okCodes: [1, 128],
  });
  const sha = r.stdout.trim();
  return r.code === 0 && /^[0-9a-f]{40,64}$/.test(sha) ? sha : undefined;
}
