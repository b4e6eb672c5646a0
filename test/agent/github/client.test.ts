// The GitHub client against the FAKE GitHub REST server (fake-github.ts): request shapes,
// idempotent pull requests, checks, merges, tags, rate limits waited out or reported, and
// the mapping of GitHub's error answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Secret } from '../../../shared/config/secret.js';
import { NonRetriableError, RetryableError, ValidationError } from '../../../shared/errors/index.js';
import { createGitHub, pullRequestBody } from '../../../shared/agent/github/index.js';
import { startFakeGitHub, type FakeGitHub } from './fake-github.js';

const TOKEN = 'ghs_fakeTOKEN123';
let fake: FakeGitHub;
beforeAll(async () => {
  fake = await startFakeGitHub(TOKEN);
});
afterAll(() => fake.close());

let n = 0;
function repo(): { owner: string; repo: string } {
  const name = `repo-${++n}`;
  fake.addRepo(`octo/${name}`);
  return { owner: 'octo', repo: name };
}
const client = (extra: { deadline?: number } = {}) => createGitHub({ token: new Secret(TOKEN), baseUrl: fake.url, ...extra });
const errorOf = (p: Promise<unknown>) => p.then(() => { throw new Error('expected a rejection'); }, (e: unknown) => e as Error);

describe('ensurePullRequest', () => {
  it('creates the pull request once, then finds and updates it instead of duplicating it', async () => {
    const r = repo();
    const gh = client();
    const first = await gh.ensurePullRequest({ ...r, head: 'facteur/t-1', base: 'main', title: 'T-1: feature', body: 'v1' });
    expect(first).toEqual({ number: expect.any(Number), url: `https://github.fake/octo/${r.repo}/pull/${first.number}`, created: true, author: 'facteur-bot' });
    const create = fake.requests.findLast((q) => q.method === 'POST')!;
    expect(create.path).toBe(`/repos/octo/${r.repo}/pulls`);
    expect(create.body).toEqual({ head: 'facteur/t-1', base: 'main', title: 'T-1: feature', body: 'v1' });
    expect(create.headers.authorization).toBe(`token ${TOKEN}`);
    expect(create.headers.accept).toMatch(/application\/vnd\.github/);

    const mark = fake.requests.length;
    const again = await gh.ensurePullRequest({ ...r, head: 'facteur/t-1', base: 'main', title: 'T-1: feature', body: 'v2' });
    expect(again).toEqual({ number: first.number, url: first.url, created: false, author: 'facteur-bot' });
    const calls = fake.requests.slice(mark);
    expect(calls.map((q) => `${q.method} ${q.path}`)).toEqual([`GET /repos/octo/${r.repo}/pulls`, `PATCH /repos/octo/${r.repo}/pulls/${first.number}`]);
    expect(calls[0]!.query).toMatchObject({ state: 'open', head: 'octo:facteur/t-1', base: 'main' });
    expect(calls[1]!.body).toEqual({ title: 'T-1: feature', body: 'v2' });
    expect(fake.repo(`octo/${r.repo}`).pulls).toHaveLength(1);
    expect(fake.repo(`octo/${r.repo}`).pulls[0]!.body).toBe('v2');

    // unchanged: no write at all
    const mark2 = fake.requests.length;
    await gh.ensurePullRequest({ ...r, head: 'facteur/t-1', base: 'main', title: 'T-1: feature', body: 'v2' });
    expect(fake.requests.slice(mark2).map((q) => q.method)).toEqual(['GET']);
  });

  it('uses the pull request a lost race created (422 "already exists")', async () => {
    const r = repo();
    const gh = client();
    const made = await gh.ensurePullRequest({ ...r, head: 'race', base: 'main', title: 't', body: 'b' });
    // the list answers empty once (the other create was not visible yet), the create then says 422
    fake.queueFailure({ method: 'GET', path: /\/pulls$/, status: 200, body: [] });
    const got = await gh.ensurePullRequest({ ...r, head: 'race', base: 'main', title: 't2', body: 'b' });
    expect(got).toEqual({ number: made.number, url: made.url, created: false, author: 'facteur-bot' });
    expect(fake.repo(`octo/${r.repo}`).pulls).toHaveLength(1);
    expect(fake.repo(`octo/${r.repo}`).pulls[0]!.title).toBe('t2');
  });

  it('refuses hostile input before sending anything', async () => {
    const r = repo();
    const mark = fake.requests.length;
    const err = await errorOf(client().ensurePullRequest({ ...r, head: 'a..b', base: '{{x}}', title: 'line\nbreak', body: '' }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toEqual(['head', 'base', 'title']);
    await expect(client().ensurePullRequest({ owner: '../x', repo: 'y', head: 'h', base: 'main', title: 't', body: '' })).rejects.toBeInstanceOf(ValidationError);
    expect(fake.requests.length).toBe(mark);
  });
});

describe('errors', () => {
  it('maps 404 to repository_not_found and 401 to auth_failed', async () => {
    const missing = await errorOf(client().ensurePullRequest({ owner: 'octo', repo: 'absent', head: 'h', base: 'main', title: 't', body: '' }));
    expect(missing).toBeInstanceOf(NonRetriableError);
    expect((missing as NonRetriableError).code).toBe('repository_not_found');
    const r = repo();
    const badToken = createGitHub({ token: new Secret('wrong'), baseUrl: fake.url });
    const unauth = await errorOf(badToken.requiredChecksGreen({ ...r, ref: 'main' }));
    expect((unauth as NonRetriableError).code).toBe('auth_failed');
    expect(unauth.message).not.toContain('wrong');
  });

  it('maps 422 to a ValidationError listing GitHub’s errors', async () => {
    const r = repo();
    fake.queueFailure({ method: 'POST', status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'PullRequest', field: 'base', code: 'invalid' }, { resource: 'PullRequest', code: 'custom', message: 'No commits between main and empty' }] } });
    const err = await errorOf(client().ensurePullRequest({ ...r, head: 'empty', base: 'main', title: 't', body: '' }));
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues).toEqual([
      { path: 'PullRequest.base', message: 'invalid' },
      { path: 'PullRequest', message: 'No commits between main and empty' },
    ]);
  });

  it('retries a 502 and reports a lasting outage as retryable', async () => {
    const r = repo();
    fake.queueFailure({ method: 'GET', status: 502 });
    expect((await client().requiredChecksGreen({ ...r, ref: 'abc' })).green).toBe(true);
    for (let i = 0; i < 10; i++) fake.queueFailure({ method: 'GET', status: 503 });
    const started = Date.now();
    const err = await errorOf(client({ deadline: Date.now() + 1200 }).requiredChecksGreen({ ...r, ref: 'abc' }));
    expect(Date.now() - started).toBeLessThan(1500); // no wait beyond the deadline
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('github_unavailable');
    fake.clearFailures();
  });
});

describe('rate limits', () => {
  it('waits out a 403 with x-ratelimit-reset a second ahead, then succeeds', async () => {
    const r = repo();
    const reset = Math.ceil(Date.now() / 1000) + 1;
    fake.queueFailure({ method: 'GET', status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset), 'x-ratelimit-limit': '5000' }, body: { message: 'API rate limit exceeded for installation ID 1.' } });
    const started = Date.now();
    const state = await client({ deadline: Date.now() + 10_000 }).requiredChecksGreen({ ...r, ref: 'main' });
    expect(state.green).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(reset * 1000);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('waits out a 429 with retry-after', async () => {
    const r = repo();
    fake.queueFailure({ method: 'POST', status: 429, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit.' } });
    const started = Date.now();
    const pr = await client({ deadline: Date.now() + 10_000 }).ensurePullRequest({ ...r, head: 'h', base: 'main', title: 't', body: '' });
    expect(pr.created).toBe(true);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('reports a rate limit whose reset is beyond the deadline as rate_limited, without waiting', async () => {
    const r = repo();
    const reset = Math.ceil(Date.now() / 1000) + 3600;
    fake.queueFailure({ method: 'GET', status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }, body: { message: 'API rate limit exceeded' } });
    const started = Date.now();
    const err = await errorOf(client({ deadline: Date.now() + 5000 }).requiredChecksGreen({ ...r, ref: 'main' }));
    expect(Date.now() - started).toBeLessThan(1000);
    expect(err).toBeInstanceOf(RetryableError);
    expect((err as RetryableError).code).toBe('rate_limited');
    expect((err as RetryableError).retryAfterMs).toBeGreaterThan(3_590_000);
  });
});

describe('requiredChecksGreen', () => {
  it('combines commit statuses and check runs; the newest run of a name counts', async () => {
    const r = repo();
    const fr = fake.repo(`octo/${r.repo}`);
    fr.statuses.set('abc', [{ context: 'ci/legacy', state: 'success' }, { context: 'deploy/preview', state: 'pending' }]);
    fr.checkRuns.set('abc', [
      { id: 1, name: 'test', status: 'completed', conclusion: 'failure' },
      { id: 2, name: 'test', status: 'completed', conclusion: 'success' },
      { id: 3, name: 'lint', status: 'completed', conclusion: 'failure' },
      { id: 4, name: 'build', status: 'in_progress', conclusion: null },
      { id: 5, name: 'docs', status: 'completed', conclusion: 'skipped' },
    ]);
    const gh = client();
    expect(await gh.requiredChecksGreen({ ...r, ref: 'abc' })).toEqual({ green: false, pending: ['build', 'deploy/preview'], failing: ['lint'] });
    const paths = fake.requests.slice(-2).map((q) => `${q.method} ${q.path}`);
    expect(paths).toEqual([`GET /repos/octo/${r.repo}/commits/abc/status`, `GET /repos/octo/${r.repo}/commits/abc/check-runs`]);

    fr.statuses.set('def', [{ context: 'ci/legacy', state: 'success' }]);
    fr.checkRuns.set('def', [{ id: 9, name: 'test', status: 'completed', conclusion: 'success' }]);
    expect(await gh.requiredChecksGreen({ ...r, ref: 'def' })).toEqual({ green: true, pending: [], failing: [] });
    expect(await gh.requiredChecksGreen({ ...r, ref: 'def', required: ['test', 'security'] })).toEqual({ green: false, pending: ['security'], failing: [] });
  });
});

describe('mergePullRequest', () => {
  it('merges and reports the merge commit; a retry of a merged PR reports the same sha', async () => {
    const r = repo();
    const gh = client();
    const pr = await gh.ensurePullRequest({ ...r, head: 'm', base: 'main', title: 't', body: '' });
    const headSha = fake.repo(`octo/${r.repo}`).pulls[0]!.headSha;
    const merged = await gh.mergePullRequest({ ...r, number: pr.number, method: 'squash', sha: headSha });
    expect(merged).toEqual({ merged: true, sha: fake.repo(`octo/${r.repo}`).pulls[0]!.mergeCommitSha });
    const put = fake.requests.findLast((q) => q.method === 'PUT')!;
    expect(put.path).toBe(`/repos/octo/${r.repo}/pulls/${pr.number}/merge`);
    expect(put.body).toEqual({ merge_method: 'squash', sha: headSha });
    expect(await gh.mergePullRequest({ ...r, number: pr.number, method: 'squash' })).toEqual(merged);
  });

  it('maps 405 with conflicts to git_conflict, other 405 to not_mergeable, 409 to not_mergeable', async () => {
    const r = repo();
    const gh = client();
    const pr = await gh.ensurePullRequest({ ...r, head: 'c', base: 'main', title: 't', body: '' });
    const p = fake.repo(`octo/${r.repo}`).pulls[0]!;
    const moved = await errorOf(gh.mergePullRequest({ ...r, number: pr.number, method: 'merge', sha: 'f'.repeat(40) }));
    expect((moved as NonRetriableError).code).toBe('not_mergeable');
    p.mergeable = false;
    p.mergeableState = 'dirty';
    const conflict = await errorOf(gh.mergePullRequest({ ...r, number: pr.number, method: 'merge' }));
    expect(conflict).toBeInstanceOf(NonRetriableError);
    expect((conflict as NonRetriableError).code).toBe('git_conflict');
    // blocked by branch protection (reviews, checks): mergeable as git goes, refused all the same
    p.mergeable = true;
    p.mergeableState = 'blocked';
    expect(((await errorOf(gh.mergePullRequest({ ...r, number: pr.number, method: 'merge' }))) as NonRetriableError).code).toBe('not_mergeable');
  });
});

describe('createTag', () => {
  it('creates a lightweight tag ref, is idempotent at the same sha, refuses another sha', async () => {
    const r = repo();
    const gh = client();
    const at = 'a'.repeat(40);
    expect(await gh.createTag({ ...r, tag: 'v1.2.0', sha: at })).toEqual({ ref: 'refs/tags/v1.2.0', sha: at, created: true });
    expect(fake.requests.findLast((q) => q.method === 'POST')!.body).toEqual({ ref: 'refs/tags/v1.2.0', sha: at });
    expect(await gh.createTag({ ...r, tag: 'v1.2.0', sha: at })).toEqual({ ref: 'refs/tags/v1.2.0', sha: at, created: false });
    await expect(gh.createTag({ ...r, tag: 'v1.2.0', sha: 'b'.repeat(40) })).rejects.toMatchObject({ code: 'tag_exists' });
  });
});

describe('pullRequestBody', () => {
  it('links idea, task, criteria and run, and neutralises mentions and markup', () => {
    const body = pullRequestBody({
      ideaId: 'idea-1', ideaTitle: 'Faster @everyone <script>', taskKey: 'T-2', taskTitle: 'Cache #12 [x](http://evil)',
      acceptanceCriteria: ['p95 < 200 ms', 'no new deps'], runId: 'run-9', statusUrl: 'https://facteur.example/runs/run-9',
    });
    expect(body).toContain('### Acceptance criteria');
    expect(body).toContain('- [ ] p95 \\< 200 ms');
    expect(body).toContain('- [ ] no new deps');
    expect(body).toContain('`idea-1`');
    expect(body).toContain('[run status](https://facteur.example/runs/run-9)');
    expect(body).toContain('<!-- facteur idea=idea-1 task=T-2 run=run-9 -->');
    expect(body).not.toMatch(/(^|[^\\])@everyone/);
    expect(body).not.toMatch(/(^|[^\\])#12/);
    expect(body).not.toContain('<script>');
    expect(() => pullRequestBody({ ideaId: 'i', ideaTitle: 't', taskKey: 'k', taskTitle: 't', acceptanceCriteria: [], runId: 'r', statusUrl: 'javascript:alert(1)' }))
      .toThrow(ValidationError);
  });
});
