// commitAll and push in a real workspace whose origin is a local bare repository; branch
// protection is a real pre-receive hook in that repository.
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { NonRetriableError, ValidationError } from '../../../shared/errors/index.js';
import { commitAll, push } from '../../../shared/agent/git/commit.js';
import { openWorkspace, type Workspace } from '../../../shared/agent/git/workspace.js';
import { makeOrigin, removeTempDirs, sh, tempDir, type Origin } from './repo.js';

const open: Workspace[] = [];
afterEach(async () => {
  for (const ws of open.splice(0)) await ws.close();
});
afterAll(removeTempDirs);

const trailers = { 'Facteur-Idea': 'idea-42', 'Facteur-Task': 'T-3', 'Facteur-Run': 'run-7' };
const author = { name: 'Facteur Agent', email: 'agent@facteur.test' };

async function workspace(branch = 'facteur/t-3', extra: { fromHead?: string } = {}): Promise<{ origin: Origin; ws: Workspace }> {
  const origin = makeOrigin();
  origin.commit('main', { 'a.txt': '1\n' });
  const ws = await openWorkspace({ cacheDir: tempDir(), remote: origin.path, base: 'main', branch, runId: 'run-7', ...extra });
  open.push(ws);
  return { origin, ws };
}

describe('commitAll', () => {
  it('commits every change with the trailers and the author', async () => {
    const { ws } = await workspace();
    writeFileSync(join(ws.dir, 'a.txt'), '2\n');
    writeFileSync(join(ws.dir, 'new.txt'), 'new\n');
    const before = sh(ws.dir, 'rev-parse', 'HEAD');
    const r = await commitAll(ws.dir, { message: 'T-3: make a two\n\nBecause the task says so.', trailers, author });
    expect(r.committed).toBe(true);
    expect(r.sha).toBe(sh(ws.dir, 'rev-parse', 'HEAD'));
    expect(sh(ws.dir, 'rev-parse', 'HEAD~1')).toBe(before);
    expect(sh(ws.dir, 'log', '-1', '--format=%(trailers)')).toBe('Facteur-Idea: idea-42\nFacteur-Task: T-3\nFacteur-Run: run-7');
    expect(sh(ws.dir, 'log', '-1', '--format=%(trailers:key=Facteur-Run,valueonly)')).toBe('run-7');
    expect(sh(ws.dir, 'log', '-1', '--format=%an <%ae>|%cn|%s')).toBe('Facteur Agent <agent@facteur.test>|Facteur Agent|T-3: make a two');
    expect(sh(ws.dir, 'status', '--porcelain')).toBe('');
  });

  it('reports nothing to commit without making a commit', async () => {
    const { ws } = await workspace();
    const head = sh(ws.dir, 'rev-parse', 'HEAD');
    expect(await commitAll(ws.dir, { message: 'nothing', trailers, author })).toEqual({ sha: head, committed: false });
    expect(sh(ws.dir, 'rev-parse', 'HEAD')).toBe(head);
  });

  it('ignores the repository hooks', async () => {
    const { ws } = await workspace();
    const hooks = tempDir();
    writeFileSync(join(hooks, 'pre-commit'), '#!/bin/sh\necho hook ran >&2\nexit 1\n');
    chmodSync(join(hooks, 'pre-commit'), 0o755);
    sh(ws.dir, 'config', 'core.hooksPath', hooks); // what `husky install` would do
    writeFileSync(join(ws.dir, 'a.txt'), '3\n');
    expect((await commitAll(ws.dir, { message: 'with hooks around', trailers, author })).committed).toBe(true);
  });

  it('refuses trailers and identities git would misread', async () => {
    const { ws } = await workspace();
    writeFileSync(join(ws.dir, 'a.txt'), '4\n');
    const bad = commitAll(ws.dir, {
      message: ' ',
      trailers: { ...trailers, 'Facteur-Run': 'run-7\nSigned-off-by: someone', 'Bad Key': 'x' },
      author: { name: 'Eve <eve@x>', email: 'not an email' },
    });
    await expect(bad).rejects.toBeInstanceOf(ValidationError);
    await expect(bad).rejects.toMatchObject({ issues: expect.arrayContaining([
      expect.objectContaining({ path: 'message' }),
      expect.objectContaining({ path: 'trailers.Facteur-Run' }),
      expect.objectContaining({ path: 'trailers.Bad Key' }),
      expect.objectContaining({ path: 'author.name' }),
      expect.objectContaining({ path: 'author.email' }),
    ]) });
  });
});

describe('push', () => {
  it('pushes the branch to origin, again after another commit', async () => {
    const { origin, ws } = await workspace();
    writeFileSync(join(ws.dir, 'a.txt'), '2\n');
    const c1 = await commitAll(ws.dir, { message: 'one', trailers, author });
    await push(ws);
    expect(origin.tip('facteur/t-3')).toBe(c1.sha);
    writeFileSync(join(ws.dir, 'a.txt'), '3\n');
    const c2 = await commitAll(ws.dir, { message: 'two', trailers, author });
    await push(ws, { force: 'with-lease' });
    expect(origin.tip('facteur/t-3')).toBe(c2.sha);
  });

  it('maps branch protection (a declining pre-receive hook) to push_rejected', async () => {
    const { origin, ws } = await workspace();
    writeFileSync(join(origin.path, 'hooks', 'pre-receive'), '#!/bin/sh\necho "GH006: Protected branch update failed" >&2\nexit 1\n');
    chmodSync(join(origin.path, 'hooks', 'pre-receive'), 0o755);
    writeFileSync(join(ws.dir, 'a.txt'), '2\n');
    await commitAll(ws.dir, { message: 'one', trailers, author });
    const err = await push(ws).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonRetriableError);
    expect((err as NonRetriableError).code).toBe('push_rejected');
    expect((err as Error).message).toMatch(/pre-receive hook declined/);
  });

  it('never overwrites commits someone else pushed meanwhile', async () => {
    const { origin, ws } = await workspace('facteur/t-9', { fromHead: 'facteur/t-9' });
    writeFileSync(join(ws.dir, 'a.txt'), 'mine\n');
    await commitAll(ws.dir, { message: 'mine', trailers, author });
    await push(ws);
    const theirs = origin.commit('facteur/t-9', { 'b.txt': 'theirs\n' });
    writeFileSync(join(ws.dir, 'a.txt'), 'mine again\n');
    await commitAll(ws.dir, { message: 'mine again', trailers, author });
    await expect(push(ws)).rejects.toMatchObject({ code: 'push_rejected' });
    await expect(push(ws, { force: 'with-lease' })).rejects.toMatchObject({ code: 'push_rejected' });
    expect(origin.tip('facteur/t-9')).toBe(theirs);
  });
});
