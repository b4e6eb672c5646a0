// What a run changed, as the `diff-stats` artifact reports it: per file the lines added and
// removed, its status (a rename keeps its old path) and whether it is binary, plus totals.
// Read from git itself (`--numstat` for the counts, `--name-status` for the statuses, both
// NUL-separated so no path is ever quoted or split wrongly), so the numbers are exactly
// what `git diff --numstat` says.
import { NonRetriableError } from '../../errors/index.js';
import { git, localFailure, resolveCommit } from './run.js';

export type FileStatus = 'added' | 'modified' | 'deleted' | 'renamed' | 'copied' | 'type_changed';

export interface FileStat {
  readonly path: string;
  /** The path before a rename or copy. */
  readonly oldPath?: string;
  readonly added: number;
  readonly removed: number;
  readonly status: FileStatus;
  /** git counts no lines in a binary file: added and removed are 0. */
  readonly binary: boolean;
}

export interface DiffStats {
  /** Full shas the diff was taken between. */
  readonly base: string;
  readonly head: string;
  readonly files: readonly FileStat[];
  readonly added: number;
  readonly removed: number;
}

// the same diff for both listings: renames found the same way, no user diff drivers
const DIFF_FLAGS = ['-M', '-z', '--no-color', '--no-ext-diff', '--no-textconv', '--no-relative'];

const STATUS: Readonly<Record<string, FileStatus>> = {
  A: 'added',
  M: 'modified',
  D: 'deleted',
  R: 'renamed',
  C: 'copied',
  T: 'type_changed',
};

interface Counts {
  readonly added: number;
  readonly removed: number;
  readonly binary: boolean;
}

/** `--numstat -z` output → counts by (new) path. */
export function parseNumstat(out: string): Map<string, Counts> {
  const fields = out.split('\0');
  const byPath = new Map<string, Counts>();
  for (let i = 0; i < fields.length; i++) {
    const field = fields[i]!;
    if (field === '') continue;
    const m = /^(-|\d+)\t(-|\d+)\t(.*)$/s.exec(field);
    if (!m) throw new NonRetriableError('git_failed', `unexpected git diff --numstat output near ${JSON.stringify(field.slice(0, 80))}`);
    let path = m[3]!;
    // a rename or copy: the path is empty and the old and new paths follow as two fields
    if (path === '') {
      path = fields[i + 2] ?? '';
      i += 2;
    }
    const binary = m[1] === '-' && m[2] === '-';
    byPath.set(path, { added: binary ? 0 : Number(m[1]), removed: binary ? 0 : Number(m[2]), binary });
  }
  return byPath;
}

/** `--name-status -z` output → files in git's order, with statuses and old paths. */
export function parseNameStatus(out: string): { path: string; oldPath?: string; status: FileStatus }[] {
  const fields = out.split('\0');
  const files: { path: string; oldPath?: string; status: FileStatus }[] = [];
  for (let i = 0; i < fields.length; i++) {
    const code = fields[i]!;
    if (code === '') continue;
    const letter = code[0]!;
    if (letter === 'R' || letter === 'C') {
      files.push({ path: fields[i + 2] ?? '', oldPath: fields[i + 1] ?? '', status: STATUS[letter]! });
      i += 2;
    } else {
      // U (unmerged) and X only show up mid-merge; they are changes to the file all the same
      files.push({ path: fields[i + 1] ?? '', status: STATUS[letter] ?? 'modified' });
      i += 1;
    }
  }
  return files;
}

async function commitOf(dir: string, ref: string, what: string): Promise<string> {
  const sha = await resolveCommit([], ref, dir);
  if (!sha) throw new NonRetriableError('invalid_ref', `${what} ${JSON.stringify(ref)} names no commit in ${dir}`);
  return sha;
}

/** The committed changes from `base` to `head` in the repository at `dir`. */
export async function diffStats(dir: string, base: string, head = 'HEAD'): Promise<DiffStats> {
  const baseSha = await commitOf(dir, base, 'base');
  const headSha = await commitOf(dir, head, 'head');
  let numstat: string;
  let nameStatus: string;
  try {
    numstat = (await git(['diff', '--numstat', ...DIFF_FLAGS, baseSha, headSha, '--'], { cwd: dir })).stdout;
    nameStatus = (await git(['diff', '--name-status', ...DIFF_FLAGS, baseSha, headSha, '--'], { cwd: dir })).stdout;
  } catch (err) {
    throw localFailure(err, 'git diff');
  }
  const counts = parseNumstat(numstat);
  const files: FileStat[] = parseNameStatus(nameStatus).map((f) => {
    const c = counts.get(f.path) ?? { added: 0, removed: 0, binary: false };
    return { ...f, added: c.added, removed: c.removed, binary: c.binary };
  });
  return {
    base: baseSha,
    head: headSha,
    files,
    added: files.reduce((n, f) => n + f.added, 0),
    removed: files.reduce((n, f) => n + f.removed, 0),
  };
}

/**
 * Every path that differs from `base` in the worktree at `dir`: committed, staged, unstaged
 * and untracked (not ignored) changes; both sides of a rename. Sorted, each once — what a
 * scope check ("did the run write outside its task?") needs.
 */
export async function changedPaths(dir: string, base: string): Promise<string[]> {
  const baseSha = await commitOf(dir, base, 'base');
  try {
    const tracked = await git(['diff', '--name-only', '-z', '--no-renames', '--no-relative', '--no-ext-diff', baseSha, '--'], { cwd: dir });
    const untracked = await git(['ls-files', '--others', '--exclude-standard', '--full-name', '-z'], { cwd: dir });
    const all = new Set([...tracked.stdout.split('\0'), ...untracked.stdout.split('\0')].filter((p) => p !== ''));
    return [...all].sort();
  } catch (err) {
    throw localFailure(err, 'listing changed paths');
  }
}
