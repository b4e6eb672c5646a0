// The dashboard over real HTTP against real PostgreSQL: `/` for browsers and for JSON
// clients, sign-in (the cookie never holds the token), every page for every role, the CSP,
// CSRF on every POST, bulk actions with their confirmation and audit, votes through the same
// code as the API, hostile query strings answered 4xx, and live hints over SSE from
// LISTEN/NOTIFY, surviving the loss of the listening connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIntakeHandler } from '../../functions/intake/index.js';
import { createStatusHandler } from '../../functions/status/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { TERMINAL_IDEA_STATUSES } from '../../shared/lifecycle/states.js';
import { createTestDb, type TestDb } from '../helpers/db.js';
import { ideaSpec, postEvent, serve, type Served } from '../helpers/http.js';
import { API_TOKENS, Jar, TOKENS } from './fixture.js';
import { ANY, createLiveHub, eventStream } from '../../shared/dashboard/live.js';

let db: TestDb;
let intake: Served;
let status: Served;
const config = loadConfig({ FACTEUR_API_TOKENS: API_TOKENS, FACTEUR_DASHBOARD_LIVE: 'listen', FACTEUR_TRACE_URL: 'https://tempo.example/trace/{traceId}', ARGO_UI_URL: 'https://argo.example/' });
const ids: Record<string, string> = {};
let runId = '';
let approvalId = '';

const ui = () => new Jar(`${status.url}/ui/`);
async function as(who: keyof typeof TOKENS): Promise<Jar> {
  const j = ui();
  const r = await j.signIn(who);
  expect(r.status).toBe(303);
  return j;
}

beforeAll(async () => {
  db = await createTestDb();
  intake = await serve(createIntakeHandler({ sql: db.sql, config: loadConfig({}), log: silentLogger }));
  status = await serve(createStatusHandler({ sql: db.sql, config, log: silentLogger }));
  for (let i = 0; i < 8; i++) {
    const r = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: `d-${i}`, title: `Idea ${i}`, repository: i % 2 ? 'acme/odd' : 'acme/even', labels: i === 2 ? ['ui'] : [] })) });
    expect(r.status).toBe(202);
    ids[`i${i}`] = r.body.ideaId;
  }
  await db.sql`update codex_kb.ideas set status = 'planning' where id = ${ids.i3!}`;
  await db.sql`update codex_kb.ideas set status = 'cancelled' where id = ${ids.i7!}`;
  // a run with artifacts and a trace, and a pending approval, on idea 0
  const [task] = await db.sql`select id from codex_kb.tasks where idea_id = ${ids.i0!} and key = 'planning'`;
  const [run] = await db.sql`
    insert into codex_kb.task_runs (task_id, idea_id, attempt, stage, status, external_run_id, namespace, trace_context, error_code, error_message)
    values (${task!.id}, ${ids.i0!}, 1, 'planning', 'queued', 'facteur-planning-x-a1', 'argo', '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', null, null) returning id`;
  runId = run!.id;
  await db.sql`insert into codex_kb.artifacts (idea_id, task_id, run_id, artifact_type, data) values
    (${ids.i0!}, ${task!.id}, ${runId}, 'test-report', ${db.sql.json({ toolchain: 'node', passed: false, checks: [{ name: 'unit', command: 'npm test', outcome: 'failed', passed: 3, failed: 1, skipped: 0, durationMs: 1200, summary: '1 failed', failure: { code: 'test_failed', signature: 'expected <n> to be <n>' } }] })}),
    (${ids.i0!}, ${task!.id}, ${runId}, 'diff-stats', ${db.sql.json({ base: 'a'.repeat(40), head: 'b'.repeat(40), added: 12, removed: 3, files: [{ path: 'src/<script>.ts', added: 12, removed: 3, status: 'modified', binary: false }] })})`;
  const gov = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'd-gov', title: 'Governed', repository: 'acme/gov' })) });
  ids.i8 = gov.body.ideaId;
  await db.sql`update codex_kb.ideas set status = 'awaiting_approval', resume_status = 'planning' where id = ${ids.i8!}`;
  const [a] = await db.sql`insert into codex_kb.approvals (idea_id, checkpoint, reason, requested_by) values (${ids.i8!}, 'plan', 'a human reads the plan first', 'policy') returning id`;
  approvalId = a!.id;
});
afterAll(async () => {
  await intake?.close();
  await status?.close();
});

describe('the dashboard over HTTP', () => {
  it('GET / sends a browser to the dashboard (under the mount prefix) and answers JSON clients with the API index', async () => {
    const browser = await fetch(`${status.url}/`, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' }, redirect: 'manual' });
    expect(browser.status).toBe(303);
    expect(browser.headers.get('location')).toBe('/ui/ideas');
    const mounted = await fetch(`${status.url}/`, { headers: { accept: 'text/html', 'x-forwarded-prefix': '/status' }, redirect: 'manual' });
    expect(mounted.headers.get('location')).toBe('/status/ui/ideas');
    const hostile = await fetch(`${status.url}/`, { headers: { accept: 'text/html', 'x-forwarded-prefix': '//evil.example' }, redirect: 'manual' });
    expect(hostile.headers.get('location')).toBe('/ui/ideas');
    for (const accept of ['*/*', 'application/json', undefined]) {
      const r = await fetch(`${status.url}/`, { headers: accept ? { accept } : {} });
      expect(r.status).toBe(200);
      const body = (await r.json()) as { routes: { path: string }[] };
      expect(body.routes.some((x) => x.path === '/v1/ideas')).toBe(true);
    }
  });

  it("a notifier's link <dashboard>/ideas/<id> leads to the idea's page; a bad id is a 400", async () => {
    const auth = { authorization: `Bearer ${TOKENS.viewer}` };
    const link = await fetch(`${status.url}/ui/ideas/${ids.i0}`, { headers: auth, redirect: 'manual' });
    expect(link.status).toBe(303);
    expect(new URL(link.headers.get('location')!, `${status.url}/ui/ideas/${ids.i0}`).href).toBe(`${status.url}/ui/idea?id=${ids.i0}`);
    expect((await fetch(`${status.url}/ui/ideas/not-a-uuid`, { headers: auth, redirect: 'manual' })).status).toBe(400);
    // signed out: to the sign-in page first
    const out = await fetch(`${status.url}/ui/ideas/${ids.i0}`, { redirect: 'manual' });
    expect(out.headers.get('location')).toMatch(/signin/);
  });

  it('signs in with a token: the session cookie is HttpOnly, SameSite=Strict and holds neither the token nor its hash', async () => {
    const j = ui();
    const first = await j.request('ideas?state=all');
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('signin?next=ideas%3Fstate%3Dall');
    const form = await j.request('signin');
    expect(form.status).toBe(200);
    const done = await j.request('signin', { form: { _csrf: Jar.csrfOf(form.text), token: TOKENS.viewer, next: 'ideas?state=all' } });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('ideas?state=all');
    const setCookie = done.headers.getSetCookie().join('\n');
    expect(setCookie).toMatch(/facteur_session=v1\.[^;]+; Path=\/; HttpOnly; SameSite=Strict/);
    expect(setCookie).not.toContain(TOKENS.viewer);
    const { createHash } = await import('node:crypto');
    const hash = createHash('sha256').update(TOKENS.viewer).digest('hex');
    expect(Buffer.from(j.cookies.get('facteur_session')!.split('.')[1]!, 'base64url').toString()).not.toContain(hash);
    const page = await j.request('ideas');
    expect(page.status).toBe(200);
    expect(page.text).toContain('token:vera');
    // https (behind a proxy that says so): Secure too
    const secure = ui();
    const f2 = await secure.request('signin', { headers: { 'x-forwarded-proto': 'https' } });
    const s2 = await secure.request('signin', { headers: { 'x-forwarded-proto': 'https' }, form: { _csrf: Jar.csrfOf(f2.text), token: TOKENS.viewer } });
    expect(s2.headers.getSetCookie().join('\n')).toMatch(/facteur_session=[^\n]*; Secure/);
  });

  it('refuses a wrong token, a sign-in without its CSRF token, a forged or tampered cookie, and the cookie on the JSON API', async () => {
    const j = ui();
    const form = await j.request('signin');
    expect((await j.request('signin', { form: { _csrf: Jar.csrfOf(form.text), token: 'nope' } })).status).toBe(401);
    expect((await j.request('signin', { form: { token: TOKENS.admin } })).status).toBe(403);
    const ok = await as('admin');
    const cookie = ok.cookies.get('facteur_session')!;
    const [v, payload, sig] = cookie.split('.');
    const forged = JSON.parse(Buffer.from(payload!, 'base64url').toString());
    forged.n = 'vera';
    const tampered = ui();
    tampered.cookies.set('facteur_session', `${v}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${sig}`);
    expect((await tampered.request('ideas')).status).toBe(303);
    const api = await fetch(`${status.url}/v1/ideas`, { headers: { cookie: ok.header() } });
    expect(api.status).toBe(401);
  });

  it('serves every page to a viewer, each with the strict CSP and no inline script or style', async () => {
    const j = await as('viewer');
    for (const path of ['ideas', 'ideas?state=all', `idea?id=${ids.i0}`, `run?id=${runId}`, 'policy', 'failures', 'metrics']) {
      const r = await j.request(path);
      expect(r.status, path).toBe(200);
      expect(r.headers.get('content-security-policy'), path).toBe("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
      expect(r.text, path).not.toMatch(/<script(?![^>]*\bsrc=)|<style|\sstyle="|\son[a-z]+="/i);
    }
    for (const [asset, type] of [['app.js', 'text/javascript'], ['app.css', 'text/css']] as const) {
      const r = await fetch(`${status.url}/ui/${asset}`);
      expect(r.status).toBe(200);
      expect(r.headers.get('content-type')).toContain(type);
    }
  });

  it('the run page reads its artifacts, links the Workflow to Argo and the trace to the tracing UI; values are escaped', async () => {
    const j = await as('viewer');
    const r = await j.request(`run?id=${runId}`);
    expect(r.text).toContain('href="https://argo.example/workflows/argo/facteur-planning-x-a1"');
    expect(r.text).toContain('href="https://tempo.example/trace/0af7651916cd43dd8448eb211c80319c"');
    expect(r.text).toMatch(/<table class="test-report">[\s\S]*unit[\s\S]*1 failed/);
    expect(r.text).toContain('src/&lt;script&gt;.ts');
    expect(r.text).not.toContain('src/<script>.ts');
  });

  it('filters through the URL: non-terminal by default, state, repository, label, text; keyset pages never repeat', async () => {
    const j = await as('viewer');
    const rows = async (q: string) => [...(await j.request(`ideas${q}`)).text.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1]);
    expect(await rows('')).toHaveLength(8); // idea 7 is cancelled
    expect(await rows('?state=all')).toHaveLength(9);
    expect(await rows('?state=planning')).toEqual([ids.i3]);
    expect(await rows('?repository=acme/odd&state=all')).toHaveLength(4);
    expect(await rows('?label=ui')).toEqual([ids.i2]);
    expect(await rows('?q=idea%205')).toEqual([ids.i5]);
    const seen: string[] = [];
    let next: string | undefined = 'ideas?state=all&limit=3';
    while (next) {
      const page = await j.request(next.replace(/&amp;/g, '&'));
      seen.push(...[...page.text.matchAll(/<tr data-id="([^"]+)"/g)].map((m) => m[1]!));
      next = /<a rel="next" href="([^"]+)"/.exec(page.text)?.[1];
    }
    expect(seen).toHaveLength(9);
    expect(new Set(seen).size).toBe(9);
    expect((await j.request('ideas')).text).toMatch(/active <b>8<\/b>[\s\S]*all <b>9<\/b>/);
  });

  it('answers hostile query strings with a 4xx page listing every problem, never a 5xx', async () => {
    const j = await as('viewer');
    const cases = [
      'ideas?q=%ZZ', 'ideas?q=a%00b', 'ideas?state={{', `ideas?q=${'x'.repeat(5000)}`, 'ideas?label=%ED%A0%80', 'ideas?colour=red',
      'ideas?state=all&state=blocked', 'ideas?cursor=zzz', 'ideas?limit=0', 'ideas?repository=../../etc', 'idea?id=%ZZ', 'idea?id={{x}}',
      `idea?id=${ids.i0}&dag=some`, 'run?id=1', 'run', 'policy?x=1', 'events?idea=nope', `idea?id=${'9'.repeat(10000)}`,
    ];
    for (const path of cases) {
      const r = await j.request(path);
      expect(r.status, path).toBeGreaterThanOrEqual(400);
      expect(r.status, path).toBeLessThan(500);
      expect(r.headers.get('content-security-policy'), path).toContain("default-src 'none'");
    }
    const many = await j.request('ideas?state=nope&limit=0&colour=red');
    expect(many.status).toBe(400);
    expect([...many.text.matchAll(/<li><code>([^<]+)<\/code>/g)].map((m) => m[1]).sort()).toEqual(['colour', 'limit', 'state']);
    // a person's text is only text
    const braces = await j.request('ideas?q=%7B%7Bconstructor%7D%7D%3Cscript%3E');
    expect(braces.status).toBe(200);
    expect(braces.text).toContain('value="{{constructor}}&lt;script&gt;"');
    expect((await j.request('idea?id=00000000-0000-4000-8000-000000000000')).status).toBe(404);
  });

  it('roles decide which buttons exist: a viewer sees none, an operator the actions, an approver the vote', async () => {
    const forms = (html: string) => [...html.matchAll(/<form[^>]*method="post"[^>]*action="([a-z]+)"/g)].map((m) => m[1]).filter((a) => a !== 'signout');
    const viewer = await as('viewer');
    for (const path of ['ideas', `idea?id=${ids.i0}`, `idea?id=${ids.i8}`]) expect(forms((await viewer.request(path)).text), path).toEqual([]);
    const operator = await as('operator');
    expect(forms((await operator.request('ideas')).text)).toEqual(['bulk']);
    expect(forms((await operator.request(`idea?id=${ids.i0}`)).text)).toEqual(['action']);
    expect(forms((await operator.request(`idea?id=${ids.i8}`)).text)).toEqual(['action']);
    const approver = await as('approver');
    expect(forms((await approver.request(`idea?id=${ids.i8}`)).text)).toEqual(['vote']);
  });

  it('every POST needs the CSRF token of the caller\'s own page; a viewer\'s valid form still gets 403 for an action', async () => {
    const operator = await as('operator');
    const other = await as('admin');
    const page = await operator.request(`idea?id=${ids.i1}`);
    const mine = Jar.csrfOf(page.text);
    const theirs = Jar.csrfOf((await other.request(`idea?id=${ids.i1}`)).text);
    expect((await operator.request('action', { form: { id: ids.i1!, action: 'pause' } })).status).toBe(403);
    expect((await operator.request('action', { form: { _csrf: theirs, id: ids.i1!, action: 'pause' } })).status).toBe(403);
    expect((await operator.request('action', { form: { _csrf: mine + 'x', id: ids.i1!, action: 'pause' } })).status).toBe(403);
    expect((await db.sql`select status from codex_kb.ideas where id = ${ids.i1!}`)[0]!.status).toBe('registered');
    const viewer = await as('viewer');
    const vcsrf = Jar.csrfOf((await viewer.request('ideas')).text);
    expect((await viewer.request('action', { form: { _csrf: vcsrf, id: ids.i1!, action: 'pause' } })).status).toBe(403);
    const ok = await operator.request('action', { form: { _csrf: mine, id: ids.i1!, action: 'pause' } });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`idea?id=${ids.i1}`);
    expect((await db.sql`select status from codex_kb.ideas where id = ${ids.i1!}`)[0]!.status).toBe('paused');
    expect((await db.sql`select actor from codex_kb.audit_log where action = 'idea.pause' and subject_id = ${ids.i1!}`)[0]!.actor).toBe('token:otto');
    expect((await operator.request('action', { form: { _csrf: mine, id: ids.i1!, action: 'explode', extra: '1' } })).status).toBe(400);
    expect((await operator.request('action', { body: '{"id":1}', headers: { 'content-type': 'application/json' } })).status).toBe(415);
  });

  it('bulk: a confirmation step first, then every matching idea that existed at the confirmation, each audited, plus one entry for the bulk', async () => {
    const operator = await as('operator');
    const csrf = Jar.csrfOf((await operator.request('ideas?repository=acme/even')).text);
    const ask = await operator.request('bulk', { form: { _csrf: csrf, state: 'active', repository: 'acme/even', action: 'pause' } });
    expect(ask.status).toBe(200);
    expect(ask.text).toMatch(/Pause 4 ideas\?/); // ideas 0, 2, 4, 6
    expect((await db.sql`select count(*)::int as n from codex_kb.ideas where status = 'paused' and repository = 'acme/even'`)[0]!.n).toBe(0);
    const asOf = /name="asOf" value="([^"]+)"/.exec(ask.text)![1]!;
    const late = await postEvent(intake.url, { topic: 'codex.intent', body: JSON.stringify(ideaSpec({ id: 'd-late', title: 'Late', repository: 'acme/even' })) });
    const done = await operator.request('bulk', { form: { _csrf: csrf, state: 'active', repository: 'acme/even', action: 'pause', asOf, confirm: 'yes' } });
    expect(done.status).toBe(200);
    expect(done.text).toMatch(/4 idea\(s\) paused; 0 skipped/);
    const paused = await db.sql`select id from codex_kb.ideas where status = 'paused' and repository = 'acme/even'`;
    expect(paused).toHaveLength(4);
    expect((await db.sql`select status from codex_kb.ideas where id = ${late.body.ideaId}`)[0]!.status).toBe('registered');
    const audit = await db.sql`select action, actor, details from codex_kb.audit_log where actor = 'token:otto' and action in ('idea.pause', 'dashboard.bulk_pause') order by id`;
    expect(audit.filter((a) => a.action === 'idea.pause').length).toBeGreaterThanOrEqual(4);
    expect(audit.find((a) => a.action === 'dashboard.bulk_pause')!.details).toMatchObject({ done: 4, skipped: 0, filter: { repository: 'acme/even' } });
    // again: nothing left to pause, every one skipped
    const again = await operator.request('bulk', { form: { _csrf: csrf, state: 'paused', repository: 'acme/even', action: 'pause', asOf, confirm: 'yes' } });
    expect(again.text).toMatch(/0 idea\(s\) paused; 4 skipped/);
    await operator.request('bulk', { form: { _csrf: csrf, state: 'paused', repository: 'acme/even', action: 'resume', asOf: new Date().toISOString(), confirm: 'yes' } });
    expect((await db.sql`select count(*)::int as n from codex_kb.ideas where status = 'paused' and repository = 'acme/even'`)[0]!.n).toBe(0);
  });

  it('an approver votes from the page through the API\'s vote code: the approval is decided and the idea moves', async () => {
    const approver = await as('approver');
    const page = await approver.request(`idea?id=${ids.i8}`);
    const r = await approver.request('vote', { form: { _csrf: Jar.csrfOf(page.text), approval: approvalId, idea: ids.i8!, decision: 'approve', reason: 'read it' } });
    expect(r.status).toBe(303);
    const [a] = await db.sql`select status from codex_kb.approvals where id = ${approvalId}`;
    expect(a!.status).toBe('approved');
    expect((await db.sql`select status from codex_kb.ideas where id = ${ids.i8!}`)[0]!.status).toBe('planning');
    const [vote] = await db.sql`select voter, source, counted from codex_kb.approval_votes where approval_id = ${approvalId}`;
    expect(vote).toMatchObject({ voter: 'token:anna', source: 'api', counted: true });
    const after = await approver.request(`idea?id=${ids.i8}`);
    expect(after.text).not.toContain('action="vote"');
  });

  it('counts a finished state up to 1000 ("1000+"), the states work is in exactly: the page does not grow with history', async () => {
    // last in this block: these ideas would change the counts the tests above check
    await db.sql`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
      select 'api', 'past-' || g, 'Past ' || g, 'acme/past', '{}', case when g <= 1005 then 'completed' else 'blocked' end
        from generate_series(1, 1007) g`;
    const page = (await (await as('viewer')).request('ideas?repository=acme/past')).text;
    expect(page).toMatch(/completed<\/span> <b>1000\+<\/b>/);
    expect(page).toMatch(/blocked<\/span> <b>2<\/b>/);
    expect(page).toMatch(/active <b>2<\/b>[\s\S]*all <b>1002\+<\/b>/);
    // under the cap a finished state is exact, with no "+"
    await db.sql`
      insert into codex_kb.ideas (source_type, source_ref, title, repository, payload, status)
      select 'api', 'gone-' || g, 'Gone ' || g, 'acme/past', '{}', 'cancelled' from generate_series(1, 3) g`;
    expect((await (await as('viewer')).request('ideas?repository=acme/past')).text).toMatch(/cancelled<\/span> <b>3<\/b>/);
    // the counts' statement spells the finished states out as literals (shared/dashboard/ideas.ts)
    expect([...TERMINAL_IDEA_STATUSES].sort()).toEqual(['cancelled', 'completed', 'failed']);
  });
});

describe('live hints over Server-Sent Events (LISTEN/NOTIFY)', () => {
  /** Reads an SSE stream into a list of events until closed. */
  async function open(jar: Jar, query: string) {
    const ac = new AbortController();
    const res = await fetch(`${status.url}/ui/events${query}`, { headers: { cookie: jar.header(), accept: 'text/event-stream' }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const events: { event: string; data: string; at: number }[] = [];
    let text = '';
    void (async () => {
      try {
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          text += Buffer.from(chunk).toString('utf8');
          let cut: number;
          while ((cut = text.indexOf('\n\n')) >= 0) {
            const block = text.slice(0, cut);
            text = text.slice(cut + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            if (event) events.push({ event, data: /^data: (.*)$/m.exec(block)?.[1] ?? '', at: Date.now() });
          }
        }
      } catch {
        // aborted
      }
    })();
    const waitFor = async (pred: (e: { event: string; data: string }) => boolean, ms = 3000) => {
      const until = Date.now() + ms;
      while (Date.now() < until) {
        const hit = events.find(pred);
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`no such event in ${JSON.stringify(events)}`);
    };
    return { events, waitFor, close: () => ac.abort() };
  }

  it('a state change reaches the idea\'s stream within a second; other ideas\' changes do not', async () => {
    const viewer = await as('viewer');
    const one = await open(viewer, `?idea=${ids.i6}`);
    const all = await open(viewer, '');
    await new Promise((r) => setTimeout(r, 200)); // LISTEN in place
    await db.sql`update codex_kb.ideas set status = 'planning' where id = ${ids.i5!}`;
    const t0 = Date.now();
    await db.sql`update codex_kb.ideas set status = 'planning' where id = ${ids.i6!}`;
    const hit = await one.waitFor((e) => e.event === 'change' && e.data === ids.i6);
    expect(Date.now() - t0).toBeLessThan(1000);
    await all.waitFor((e) => e.data === ids.i5);
    expect(one.events.some((e) => e.data === ids.i5)).toBe(false);
    expect(hit).toBeDefined();
    // a heartbeat-only update (no state change) sends nothing
    const before = one.events.length;
    await db.sql`update codex_kb.task_runs set last_heartbeat_at = now() where id = ${runId}`;
    await new Promise((r) => setTimeout(r, 300));
    expect(one.events.length).toBe(before);
    one.close();
    all.close();
  });

  it('after the listening connection is killed, it comes back: streams are told to resync and later changes arrive', async () => {
    const viewer = await as('viewer');
    const s = await open(viewer, `?idea=${ids.i6}`);
    await new Promise((r) => setTimeout(r, 200));
    const killed = await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`;
    expect(killed.length).toBeGreaterThan(0);
    await s.waitFor((e) => e.event === 'resync', 5000);
    await db.sql`update codex_kb.ideas set status = 'plan_ready' where id = ${ids.i6!}`;
    await s.waitFor((e) => e.event === 'change' && e.data === ids.i6, 3000);
    s.close();
  });

  it('a stream sends heartbeat comments, hears a polled change too, and leaves the hub when its client goes', async () => {
    const hub = createLiveHub({ sql: db.sql, log: silentLogger, mode: 'poll', pollMs: 50 });
    const chunks: string[] = [];
    const client = new AbortController();
    const streaming = eventStream(hub, ANY, { write: (c) => chunks.push(c) > 0, signal: client.signal }, 50);
    await new Promise((r) => setTimeout(r, 300));
    expect(chunks.filter((c) => c.startsWith(': heartbeat')).length).toBeGreaterThanOrEqual(2);
    expect(hub.size()).toBe(1);
    await db.sql`update codex_kb.ideas set status = 'blocked' where id = ${ids.i0!}`;
    const until = Date.now() + 2000;
    while (!chunks.some((c) => c.includes('event: change')) && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(chunks.some((c) => c.includes('event: change'))).toBe(true);
    client.abort();
    await streaming;
    expect(hub.size()).toBe(0);
  });

  it('a viewer needs to be signed in for the stream', async () => {
    const r = await fetch(`${status.url}/ui/events`, { redirect: 'manual' });
    expect(r.status).toBe(401);
  });
});
