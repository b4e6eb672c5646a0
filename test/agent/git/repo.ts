// Test fixtures for the git modules: temp directories and a local bare repository used as
// the "origin" (reached by path or file:// URL), filled through an ordinary clone with the
// real git CLI — independently of the code under test.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

const IDENTITY = {
  GIT_AUTHOR_NAME: 'Tester', GIT_AUTHOR_EMAIL: 'tester@example.test',
  GIT_COMMITTER_NAME: 'Tester', GIT_COMMITTER_EMAIL: 'tester@example.test',
};

/** Runs git (argv, no shell) and returns its trimmed stdout. */
export function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, { cwd, env: { ...process.env, ...IDENTITY, LC_ALL: 'C' }, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

const made: string[] = [];

export function tempDir(prefix = 'facteur-git-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface Origin {
  /** The bare repository's path. */
  readonly path: string;
  readonly url: string;
  /** A plain clone to make commits "upstream" with. */
  readonly seed: string;
  /** Writes files on `branch` (created from `from` when new), commits and pushes; returns the sha. */
  commit(branch: string, files: Record<string, string | Buffer | null>, message?: string, from?: string): string;
  tip(branch: string): string;
}

export function makeOrigin(root = tempDir()): Origin {
  const path = join(root, 'origin.git');
  execFileSync('git', ['-c', 'init.defaultBranch=main', 'init', '--bare', '--quiet', path]);
  const seed = join(root, 'seed');
  execFileSync('git', ['-c', 'init.defaultBranch=main', 'init', '--quiet', seed]);
  sh(seed, 'remote', 'add', 'origin', path);
  const origin: Origin = {
    path,
    url: pathToFileURL(path).href,
    seed,
    commit(branch, files, message = `change on ${branch}`, from = 'main') {
      const hasHistory = sh(path, 'for-each-ref', '--count=1', 'refs/heads') !== '';
      if (!hasHistory) sh(seed, 'checkout', '--quiet', '--orphan', branch);
      else {
        sh(seed, 'fetch', '--quiet', '--prune', 'origin');
        const remote = sh(seed, 'for-each-ref', `refs/remotes/origin/${branch}`) !== '';
        sh(seed, 'checkout', '--quiet', '--force', '-B', branch, `origin/${remote ? branch : from}`);
      }
      for (const [file, content] of Object.entries(files)) {
        const full = join(seed, file);
        if (content === null) rmSync(full);
        else {
          mkdirSync(dirname(full), { recursive: true });
          writeFileSync(full, content);
        }
      }
      sh(seed, 'add', '--all');
      sh(seed, 'commit', '--quiet', '-m', message);
      sh(seed, 'push', '--quiet', '--force', 'origin', `HEAD:refs/heads/${branch}`);
      return sh(seed, 'rev-parse', 'HEAD');
    },
    tip(branch) {
      return sh(path, 'rev-parse', `refs/heads/${branch}`);
    },
  };
  return origin;
}
