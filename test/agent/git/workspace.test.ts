// openWorkspace against real repositories: a local bare repo as origin (by path, by file://
// URL, and behind git's own smart-HTTP server for the token), real worktrees, real locks,
// and a real child process killed with SIGKILL for the stale-lock case.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NonRetriableError, RetryableError, ValidationError } from '../../../shared/errors/index.js';
import { Secret } from '../../../shared/config/secret.js';
import { openWorkspace, parseRemote, type Workspace } from '../../../shared/agent/git/workspace.js';
import { startGitHttpServer } from './http-git-server.js';
import { makeOrigin, removeTempDirs, sh, tempDir } from './repo.js';

const open: Workspace[] = [];
afterEach(async () => {
  for (const ws of open.splice(0)) await ws.close();
});
afterAll(removeTempDirs);

async function opened(p: Promise<Workspace>): Promise<Workspace> {
  const ws = await p;
  open.push(ws);
  return ws;
}

async function rejection(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a rejection');
}

/** Every file under `dir` (symlinks not followed). */
function allFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...allFiles(p));
    else if (e.isFile()) out.push(p);
  }
  return out;
}

describe('openWorkspace', () => {
  it('gives two parallel runs on two branches their own worktrees of one cache', async () => {
    const origin = makeOrigin();
    const base = origin.commit('main', { 'README.md': 'hello\n' });
    const cacheDir = tempDir();
    const [a, b] = await Promise.all([
      opened(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'facteur/task-a', runId: 'run-a' })),
      opened(openWorkspace({ cacheDir, remote: origin.url, base: 'main', branch: 'facteur/task-b', runId: 'run-b' })),
    ]);
    expect(a.dir).not.toBe(b.dir);
    expect(a.dir.endsWith('/run-a')).toBe(true);
    expect(sh(a.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('facteur/task-a');
    expect(sh(b.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('facteur/task-b');
    expect(a.baseSha).toBe(base);
    expect(sh(a.dir, 'rev-parse', 'HEAD')).toBe(base);
    writeFileSync(join(a.dir, 'only-a.txt'), 'a\n');
    expect(existsSync(join(b.dir, 'only-a.txt'))).toBe(false);
    expect(readFileSync(join(b.dir, 'README.md'), 'utf8')).toBe('hello\n');
    // the path and the file:// URL name one repository: one cache, a bare repository
    const caches = readdirSync(cacheDir).filter((n) => n.endsWith('.git'));
    expect(caches).toHaveLength(1);
    expect(a.gitDir).toBe(b.gitDir);
    expect(sh(join(cacheDir, caches[0]!), 'rev-parse', '--is-bare-repository')).toBe('true');

    await a.close();
    await a.close(); // twice is fine
    expect(existsSync(a.dir)).toBe(false);
    expect(sh(b.dir, 'status', '--porcelain')).toBe('');
  });

  it('reuses the cache for runs of one remote and fetches what changed upstream', async () => {
    const origin = makeOrigin();
    origin.commit('main', { 'a.txt': '1\n' });
    const cacheDir = tempDir();
    const first = await opened(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'one', runId: 'r1' }));
    await first.close();
    const newer = origin.commit('main', { 'a.txt': '2\n' });
    const second = await opened(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'two', runId: 'r2' }));
    expect(second.gitDir).toBe(first.gitDir);
    expect(second.baseSha).toBe(newer);
    expect(readFileSync(join(second.dir, 'a.txt'), 'utf8')).toBe('2\n');
  });

  it('refuses the same branch to a second run: it waits lockTimeoutMs, then fails naming the holder', async () => {
    const origin = makeOrigin();
    origin.commit('main', { 'a.txt': '1\n' });
    const cacheDir = tempDir();
    const first = await opened(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'shared', runId: 'run-first' }));
    const started = Date.now();
    const err = await rejection(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'shared', runId: 'run-second', lockTimeoutMs: 400 }));
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('workspace_locked');
    expect(err.message).toContain('branch shared');
    expect(err.message).toContain('run run-first');
    expect(err.message).toContain(`pid ${process.pid}`);
    // the refused run left nothing behind
    expect(existsSync(join(first.dir, '..', 'run-second'))).toBe(false);

    // a waiter gets it as soon as the holder closes
    const waiting = openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'shared', runId: 'run-second', lockTimeoutMs: 10_000 });
    setTimeout(() => void first.close(), 300);
    const second = await opened(waiting);
    expect(sh(second.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('shared');
  });

  it('cleans the worktree and locks a killed run left behind, and reuses them', async () => {
    const origin = makeOrigin();
    const base = origin.commit('main', { 'a.txt': '1\n' });
    const cacheDir = tempDir();
    const opts = { cacheDir, remote: origin.path, base: 'main', branch: 'facteur/killed', runId: 'run-killed' };
    const child = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'hold-workspace.ts'), JSON.stringify(opts)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const dir = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (b: Buffer) => {
        const m = /^ready (.+)$/m.exec(b.toString());
        if (m) resolve(m[1]!);
      });
      child.on('exit', (code) => reject(new Error(`child exited ${code}: ${stderr}`)));
    });
    const exited = new Promise((r) => child.on('exit', r));
    child.kill('SIGKILL');
    await exited;
    const locks = readdirSync(join(dir, '..', '..')).find((n) => n.endsWith('.locks'))!;
    const lockFiles = readdirSync(join(cacheDir, locks));
    expect(lockFiles.some((n) => n.startsWith('branch-facteur_killed'))).toBe(true);
    expect(lockFiles).toContain('run-run-killed.lock');
    expect(existsSync(join(dir, 'half-done.txt'))).toBe(true);

    // the same run id again (a retried pod): stale locks taken over, worktree recreated clean
    const again = await opened(openWorkspace({ ...opts, lockTimeoutMs: 2000 }));
    expect(again.dir).toBe(dir);
    expect(existsSync(join(dir, 'half-done.txt'))).toBe(false);
    expect(sh(dir, 'rev-parse', 'HEAD')).toBe(base);
    const lock = JSON.parse(readFileSync(join(cacheDir, locks, 'run-run-killed.lock'), 'utf8')) as { pid: number };
    expect(lock.pid).toBe(process.pid);
    await again.close();

    // and the branch, checked out in a killed run's worktree, for another run id
    const child2 = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'hold-workspace.ts'), JSON.stringify(opts)], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child2.stdout.on('data', (b: Buffer) => b.toString().includes('ready') && resolve()));
    const exited2 = new Promise((r) => child2.on('exit', r));
    child2.kill('SIGKILL');
    await exited2;
    const other = await opened(openWorkspace({ ...opts, runId: 'run-other', lockTimeoutMs: 2000 }));
    expect(sh(other.dir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('facteur/killed');
    expect(sh(other.dir, 'worktree', 'list', '--porcelain').match(/branch refs\/heads\/facteur\/killed/g)).toHaveLength(1);
  });

  it('continues from fromHead when it exists remotely, else starts from base', async () => {
    const origin = makeOrigin();
    const base = origin.commit('main', { 'a.txt': '1\n' });
    const head = origin.commit('facteur/task-1', { 'work.txt': 'attempt 1\n' });
    const cacheDir = tempDir();
    const cont = await opened(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'facteur/task-1', runId: 'run-2', fromHead: 'facteur/task-1' }));
    expect(sh(cont.dir, 'rev-parse', 'HEAD')).toBe(head);
    expect(readFileSync(join(cont.dir, 'work.txt'), 'utf8')).toBe('attempt 1\n');
    expect(cont.baseSha).toBe(base);
    expect(cont.remoteBranchSha).toBe(head);
    await cont.close();

    const fresh = await opened(openWorkspace({ cacheDir, remote: origin.path, base: 'main', branch: 'facteur/task-2', runId: 'run-3', fromHead: 'facteur/task-2' }));
    expect(sh(fresh.dir, 'rev-parse', 'HEAD')).toBe(base);
    expect(fresh.remoteBranchSha).toBeNull();
  });

  it('says repository_not_found for a missing repository, invalid_ref for a missing base', async () => {
    const cacheDir = tempDir();
    const missing = join(tempDir(), 'nope.git');
    for (const remote of [missing, `file://${missing}`]) {
      const err = await rejection(openWorkspace({ cacheDir, remote, base: 'main', branch: 'b', runId: 'r' }));
      expect(err).toBeInstanceOf(NonRetriableError);
      expect((err as NonRetriableError).code).toBe('repository_not_found');
    }
    expect(readdirSync(cacheDir).filter((n) => n.endsWith('.git'))).toEqual([]);
    const origin = makeOrigin();
    origin.commit('main', { 'a.txt': '1\n' });
    const err = await rejection(openWorkspace({ cacheDir, remote: origin.path, base: 'develop', branch: 'b', runId: 'r' }));
    expect((err as NonRetriableError).code).toBe('invalid_ref');
    expect(err.message).toContain('develop');
  });

  it('keys caches by repository, not by spelling', () => {
    const key = (r: string) => parseRemote(r).key;
    expect(key('https://github.com/octo/app')).toBe(key('https://GitHub.com/octo/app.git/'));
    expect(key('https://github.com/octo/app')).not.toBe(key('https://github.com/octo/app2'));
    expect(key('https://github.com/octo/app')).toMatch(/^github\.com_octo_app-[0-9a-f]{12}$/);
    expect(key('/srv/git/app.git')).toBe(key('file:///srv/git/app.git'));
    expect(key('/srv/git/app.git')).not.toBe(key('/srv/git/app'));
  });

  it('refuses hostile names before running git', async () => {
    const cacheDir = tempDir();
    const origin = makeOrigin();
    origin.commit('main', { 'a.txt': '1\n' });
    const base = { cacheDir, remote: origin.path, base: 'main', branch: 'ok', runId: 'r' };
    for (const branch of ['--upload-pack=touch /tmp/x', 'a..b', 'x{{workflow.name}}', 'a b', '']) {
      const err = await rejection(openWorkspace({ ...base, branch }));
      expect((err as NonRetriableError).code).toBe('invalid_ref');
    }
    expect(((await rejection(openWorkspace({ ...base, base: '-main' }))) as NonRetriableError).code).toBe('invalid_ref');
    expect(await rejection(openWorkspace({ ...base, runId: '../escape' }))).toBeInstanceOf(ValidationError);
    for (const remote of ['https://user:pw@github.com/o/r.git', 'ext::sh -c touch% /tmp/pwned', 'ssh://git@github.com/o/r', '']) {
      expect(await rejection(openWorkspace({ ...base, remote }))).toBeInstanceOf(ValidationError);
    }
  });
});

describe('openWorkspace with a token', () => {
  const TOKEN = 'ghs_TESTtoken0123456789abcdefTOKEN';

  it('sends it through the credential helper only: never in argv, config, files or errors', async () => {
    const root = tempDir();
    const origin = makeOrigin(root);
    origin.commit('main', { 'a.txt': '1\n' });
    const server = await startGitHttpServer(root, TOKEN);
    // a `git` first on PATH that records every argv and environment it is started with
    const bin = tempDir();
    const log = join(bin, 'calls.log');
    const realGit = (process.env.PATH ?? '').split(':').map((d) => join(d, 'git')).find((p) => existsSync(p))!;
    writeFileSync(join(bin, 'git'), `#!/bin/sh\nprintf 'ARGV %s\\n' "$*" >> '${log}'\nexec '${realGit}' "$@"\n`);
    chmodSync(join(bin, 'git'), 0o755);
    const savedPath = process.env.PATH;
    process.env.PATH = `${bin}:${savedPath}`;
    try {
      const cacheDir = tempDir();
      const remote = `${server.url}/origin.git`;
      const ws = await opened(openWorkspace({ cacheDir, remote, base: 'main', branch: 'with-token', runId: 'tok', token: new Secret(TOKEN) }));
      expect(readFileSync(join(ws.dir, 'a.txt'), 'utf8')).toBe('1\n');
      // the server got it as Basic auth from the helper
      expect(server.authorizations).toContain(`Basic ${Buffer.from(`x-access-token:${TOKEN}`).toString('base64')}`);
      const calls = readFileSync(log, 'utf8');
      expect(calls).toContain('credential.helper=!f()');
      expect(calls).not.toContain(TOKEN);
      expect(sh(ws.dir, 'config', '--list', '--show-origin')).not.toContain(TOKEN);
      expect(sh(ws.dir, 'config', '--get', 'remote.origin.url')).toBe(remote);
      for (const f of [...allFiles(cacheDir)]) {
        if (statSync(f).size < 5_000_000) expect(readFileSync(f, 'latin1').includes(TOKEN), f).toBe(false);
      }
      await ws.close();

      // a wrong token and no token: auth_failed, and the wrong token is not in the message
      const wrong = 'ghs_WRONGwrongWRONG';
      const bad = await rejection(openWorkspace({ cacheDir: tempDir(), remote, base: 'main', branch: 'x', runId: 'bad', token: new Secret(wrong) }));
      expect((bad as NonRetriableError).code).toBe('auth_failed');
      expect(bad.message).not.toContain(wrong);
      const none = await rejection(openWorkspace({ cacheDir: tempDir(), remote, base: 'main', branch: 'x', runId: 'none' }));
      expect((none as NonRetriableError).code).toBe('auth_failed');
    } finally {
      process.env.PATH = savedPath;
      await server.close();
    }
  });

  it('reports an unreachable server as retryable network trouble', async () => {
    const err = await rejection(openWorkspace({ cacheDir: tempDir(), remote: 'http://127.0.0.1:9/o/r.git', base: 'main', branch: 'x', runId: 'net', token: new Secret(TOKEN) }));
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('network');
  });
});
