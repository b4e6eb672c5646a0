// Local mode's "origin": a bare git repository at `<dataDir>/repos/sample.git` holding a
// tiny Node package (no dependencies, `npm test` = `node --test`, one passing test), so a
// newcomer's first idea has real code to plan against, change and test, with nothing to
// set up and no network.
//
// Made once. Its one commit has a fixed author, committer and date, and git reads no user
// or system configuration while making it (no signing, no hooks, no templates), so every
// machine makes the same commit id. Two processes may race to make it: each builds in a
// private temp directory beside the target and renames it into place; rename(2) of a
// directory onto an existing, non-empty one fails, so exactly one wins and the other
// throws its copy away. Nobody ever sees a half-made repository.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { NonRetriableError, messageOf } from '../errors/index.js';

const run = promisify(execFile);

export const SAMPLE_BRANCH = 'main';
const TEMP_PREFIX = '.tmp-sample-';

/** The sample package's files, path → content. */
export const SAMPLE_FILES: Readonly<Record<string, string>> = Object.freeze({
  'package.json': `${JSON.stringify({
    name: 'facteur-sample',
    version: '0.1.0',
    private: true,
    description: 'A tiny package for trying Facteur in local mode.',
    type: 'module',
    scripts: { test: 'node --test' },
  }, null, 2)}\n`,
  'README.md': `# facteur-sample

A tiny Node package that Facteur's local mode uses as its repository: ideas are planned
against it, and each task's change lands here as a module in \`src/\` with its test in
\`test/\`.

    npm test    # node --test, no dependencies
`,
  '.gitignore': 'node_modules/\n',
  'src/greet.js': `// Says hello. The smallest possible module, so a first change has something to sit beside.
export function greet(name) {
  const who = String(name ?? '').trim() || 'world';
  return \`Hello, \${who}!\`;
}
`,
  'test/greet.test.js': `import assert from 'node:assert/strict';
import { test } from 'node:test';
import { greet } from '../src/greet.js';

test('greet names who it greets', () => {
  assert.equal(greet('Ada'), 'Hello, Ada!');
});

test('greet falls back to the world', () => {
  assert.equal(greet('  '), 'Hello, world!');
});
`,
});

/** Fixed identity and date: the same commit id on every machine. */
const IDENTITY = {
  GIT_AUTHOR_NAME: 'Facteur',
  GIT_AUTHOR_EMAIL: 'facteur@example.invalid',
  GIT_AUTHOR_DATE: '2024-01-01T00:00:00Z',
  GIT_COMMITTER_NAME: 'Facteur',
  GIT_COMMITTER_EMAIL: 'facteur@example.invalid',
  GIT_COMMITTER_DATE: '2024-01-01T00:00:00Z',
};

export interface SampleRepo {
  /** `<dataDir>/repos/sample.git`. */
  readonly bare: string;
  /** This call made it (false: it was there, or another process made it first). */
  readonly created: boolean;
}

export function sampleRepoPath(dataDir: string): string {
  return join(dataDir, 'repos', 'sample.git');
}

export async function ensureSampleRepo(dataDir: string): Promise<SampleRepo> {
  const bare = sampleRepoPath(dataDir);
  if (existsSync(bare)) return { bare, created: await checkExisting(bare) };
  const parent = dirname(bare);
  await mkdir(parent, { recursive: true });
  await sweepTemps(parent);
  const temp = join(parent, `${TEMP_PREFIX}${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    await build(temp);
    try {
      await rename(join(temp, 'sample.git'), bare);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(bare)) return { bare, created: await checkExisting(bare) };
      throw err;
    }
    return { bare, created: true };
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

/** Builds `<temp>/work` (one commit) and pushes it into `<temp>/sample.git`. */
async function build(temp: string): Promise<void> {
  const work = join(temp, 'work');
  const target = join(temp, 'sample.git');
  for (const [path, content] of Object.entries(SAMPLE_FILES)) {
    await mkdir(dirname(join(work, path)), { recursive: true });
    await writeFile(join(work, path), content);
  }
  await git(temp, ['init', '--quiet', '--template=', `--initial-branch=${SAMPLE_BRANCH}`, work]);
  await git(work, ['add', '--all']);
  await git(work, ['commit', '--quiet', '--no-verify', '-m', 'Initial commit: a tiny Node package']);
  await git(temp, ['init', '--quiet', '--bare', '--template=', `--initial-branch=${SAMPLE_BRANCH}`, target]);
  await git(work, ['push', '--quiet', target, `${SAMPLE_BRANCH}:refs/heads/${SAMPLE_BRANCH}`]);
}

/** An existing repository must have the branch; anything else is not ours to repair. */
async function checkExisting(bare: string): Promise<false> {
  try {
    await git(bare, ['--git-dir', bare, 'rev-parse', '--verify', '--quiet', `refs/heads/${SAMPLE_BRANCH}^{commit}`]);
  } catch (err) {
    throw new NonRetriableError('sample_repo_broken', `${bare} exists but is not a git repository with a ${SAMPLE_BRANCH} branch (${firstLine(err)}); remove it and local mode makes it again`, { cause: err });
  }
  return false;
}

/** Temp directories of makers that died midway (their pid is gone). */
async function sweepTemps(parent: string): Promise<void> {
  for (const name of await readdir(parent)) {
    const pid = Number(/^\.tmp-sample-(\d+)-/.exec(name)?.[1]);
    if (!pid || alive(pid)) continue;
    await rm(join(parent, name), { recursive: true, force: true });
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function git(cwd: string, args: readonly string[]): Promise<void> {
  await run('git', ['-c', 'commit.gpgsign=false', '-c', 'core.hooksPath=/dev/null', ...args], {
    cwd,
    shell: false,
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: cwd,
      // no user or system config, no templates: the same repository everywhere
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: '/dev/null',
      LC_ALL: 'C',
      ...IDENTITY,
    },
  });
}

function firstLine(err: unknown): string {
  const stderr = (err as { stderr?: unknown }).stderr;
  const text = typeof stderr === 'string' && stderr.trim() ? stderr : messageOf(err);
  return text.trim().split('\n')[0] ?? '';
}
