// facteur-agent's git side: a run's worktree, what it changed, its commit and push, and the
// local-mode integration. Everything goes through the git CLI (see run.ts).
export { changedPaths, diffStats, parseNameStatus, parseNumstat, type DiffStats, type FileStat, type FileStatus } from './diff-stats.js';
export {
  commitAll, push, type CommitOptions, type CommitResult, type FacteurTrailers, type Identity, type PushOptions,
} from './commit.js';
export { GitConflictError, mergeLocal, type MergeLocalOptions, type MergeMethod, type MergeResult } from './integrate.js';
export { acquireLock, withLock, type HeldLock, type LockOptions } from './lock.js';
export { GitCommandError, git, scrub, TOKEN_ENV, type GitOptions, type GitResult, type SecretLike } from './run.js';
export {
  cachePaths, openWorkspace, parseRemote, type CachePaths, type CacheRef, type Workspace, type WorkspaceOptions,
} from './workspace.js';
