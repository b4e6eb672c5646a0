// The shapes toolchain detection speaks in: what an adapter saw in a directory (a
// Detection), the commands it would run there (CommandSpecs), and the plan the gates follow.
//
// Glossary: a *root* is a package's directory relative to the repository root ('.' for the
// root itself); *evidence* are the files that made an adapter recognise it; a *check* is
// one command of the plan once it has run (see gates.ts).

export const TOOLCHAIN_IDS = ['node', 'python', 'go', 'java', 'rust'] as const;
export type ToolchainId = (typeof TOOLCHAIN_IDS)[number];

/** The command names the gates know; a `.facteur/toolchain.yml` may add its own. */
export const STANDARD_CHECKS = ['install', 'build', 'lint', 'test'] as const;
/** A failure of one of these makes the root's later checks meaningless: they are skipped. */
export const BLOCKING_CHECKS: ReadonlySet<string> = new Set(['install', 'build']);

export interface Detection {
  /** An adapter id, or the free label a `.facteur/toolchain.yml` gives. */
  readonly toolchain: string;
  /** Relative to the repository root, POSIX separators, '.' for the root. */
  readonly root: string;
  /** 0..1: 1 when a lockfile pins the package manager, less on weaker evidence. */
  readonly confidence: number;
  /** Files that were found, relative to `root` (e.g. 'package-lock.json'). */
  readonly evidence: readonly string[];
  readonly packageManager?: string;
}

export interface CommandSpec {
  readonly name: 'install' | 'build' | 'lint' | 'test' | (string & {});
  readonly argv: readonly string[];
  /** Where it runs, relative to the repository root. */
  readonly cwd: string;
  readonly timeoutMs?: number;
  /** The detection this command serves (its root and toolchain), for skipping after a failure. */
  readonly root?: string;
  readonly toolchain?: string;
}

export interface ToolchainAdapter {
  readonly id: ToolchainId;
  /**
   * Whether `dir` (absolute) is a package root of this toolchain. The returned root is '.';
   * the caller rebases it. `repoDir` bounds any look upwards (a workspace's lockfile).
   */
  detect(dir: string, repoDir?: string): Promise<Detection | undefined>;
  /**
   * The commands for the package in `dir` (absolute), whose `detection.root` has been
   * rebased onto the repository root: every `cwd` returned is relative to that root.
   */
  commands(dir: string, detection: Detection): Promise<CommandSpec[]>;
}

export interface ToolchainPlan {
  readonly source: 'detected' | 'file';
  readonly detections: readonly Detection[];
  readonly commands: readonly CommandSpec[];
}
