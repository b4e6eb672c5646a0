// Rate limits and outages against the FAKE: a 429 with Retry-After and a 403 whose
// x-ratelimit-remaining is 0 are waited out as GitHub asks (measured on the FAKE's clock),
// the whole repository held meanwhile while other repositories go on; Discord's 429
// `retry_after` likewise; and a GitHub outage (502s, then connections refused) delays the
// notifications and loses none, while the lifecycle goes on as if nothing happened.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDispatchHandler } from '../../functions/dispatch/index.js';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import type { Notifications } from '../../shared/notify/index.js';
import { serve } from '../helpers/http.js';
import { tick, type System } from '../helpers/system.js';
import { notifyEnv, type FakeRemotes } from './fake-remotes.js';
import { ideaFromIssue, notifierFor, startNotifySystem, type NotifySystem } from './system.js';

let t: NotifySystem;
let sys: System;
let remotes: FakeRemotes;
let notify: Notifications;

beforeAll(async () => {
  t = await startNotifySystem({ passMs: 8000 });
  ({ sys, remotes, notify } = t);
});
afterAll(() => t?.close());

let issue = 500;
const fromIssue = (repository: string, title = 'Limits') => ideaFromIssue(sys, repository, ++issue, title);
const posts = (repository: string, n: number) => remotes.seen.filter((s) => s.method === 'POST' && s.path === `/github/repos/${repository}/issues/${n}/comments`);

describe('rate limits', () => {
  it('a 429 with Retry-After holds the repository for that long; other repositories go on', async () => {
    const first = await fromIssue('acme/slow');
    const second = await fromIssue('acme/slow');
    const elsewhere = await fromIssue('acme/fast');
    remotes.faults.push({ match: /^POST \/github\/repos\/acme\/slow\/issues\/\d+\/comments$/, status: 429, headers: { 'retry-after': '1' }, body: { message: 'You have exceeded a secondary rate limit' } });
    await notify.runOnce();
    const refused = remotes.seen.find((s) => s.status === 429)!;
    const slow = [...posts('acme/slow', first.issue), ...posts('acme/slow', second.issue)].filter((s) => s.status === 201);
    expect(slow).toHaveLength(2);
    // nothing went to acme/slow before the second was up; acme/fast did not wait
    for (const s of slow) expect(s.at - refused.at).toBeGreaterThanOrEqual(950);
    const fast = posts('acme/fast', elsewhere.issue).find((s) => s.status === 201)!;
    expect(fast.at).toBeLessThan(Math.min(...slow.map((s) => s.at)));
  }, 30_000);

  it('a 403 with x-ratelimit-remaining 0 waits until x-ratelimit-reset', async () => {
    const idea = await fromIssue('acme/quota');
    const reset = Math.ceil(Date.now() / 1000) + 2;
    remotes.faults.push({ match: /^GET \/github\/repos\/acme\/quota\//, status: 403, headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': String(reset) }, body: { message: 'API rate limit exceeded' } });
    await notify.runOnce();
    const refused = remotes.seen.find((s) => s.status === 403)!;
    const retried = remotes.seen.filter((s) => s.path.startsWith('/github/repos/acme/quota/') && s.at > refused.at);
    expect(retried.length).toBeGreaterThan(0);
    expect(retried[0]!.at).toBeGreaterThanOrEqual(reset * 1000);
    expect(posts('acme/quota', idea.issue).filter((s) => s.status === 201)).toHaveLength(1);
    const [d] = await sys.db.sql`select state, attempts from codex_kb.notify_deliveries where idea_id = ${idea.ideaId} and notifier = 'github'`;
    expect(d).toEqual({ state: 'sent', attempts: 2 });
  }, 30_000);

  it('Discord\'s 429 retry_after is waited out, and the message sent once', async () => {
    await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.alert.failure_signature', '/facteur/alerts', 'facteur.events', ${sys.db.sql.json({ message: 'same failure 5 times' })})`;
    remotes.faults.push({ match: /^POST \/discord\//, status: 429, headers: { 'retry-after': '3' }, body: { message: 'You are being rate limited.', retry_after: 0.7, global: false } });
    await notify.runOnce();
    const refused = remotes.seen.find((s) => s.status === 429 && s.path.startsWith('/discord/'))!;
    const sent = remotes.messages.filter((m) => m.content.includes('same failure 5 times'));
    expect(sent).toHaveLength(1);
    // the body's retry_after (0.7 s) is the precise one; Retry-After is its rounding up
    expect(sent[0]!.at - refused.at).toBeGreaterThanOrEqual(650);
    expect(sent[0]!.at - refused.at).toBeLessThan(2900);
  }, 30_000);
});

describe('refusals', () => {
  it('a commit status GitHub refuses (422) neither fails the comment nor is asked again', async () => {
    const idea = await fromIssue('acme/statuses', 'Unknown head');
    const [task] = await sys.db.sql`insert into codex_kb.tasks (idea_id, key, stage, title, repository) values (${idea.ideaId}, 'impl', 'implementation', 'Impl', 'acme/statuses') returning id`;
    await sys.db.sql`insert into codex_kb.artifacts (idea_id, task_id, artifact_type, data) values (${idea.ideaId}, ${task!.id}, 'diff-stats', ${sys.db.sql.json({ head: 'a'.repeat(40) })})`;
    remotes.faults.push({ match: /^POST \/github\/repos\/acme\/statuses\/statuses\//, status: 422, body: { message: 'Validation Failed', errors: [{ resource: 'Status', field: 'sha', code: 'invalid', message: 'No commit found for SHA' }] } });
    await notify.runOnce();
    const statusPosts = () => remotes.seen.filter((s) => s.path.startsWith('/github/repos/acme/statuses/statuses/'));
    expect(statusPosts().map((s) => s.status)).toEqual([422]);
    expect(posts('acme/statuses', idea.issue).map((s) => s.status)).toEqual([201]);
    // another event for the idea, its stage unchanged: the comment is refreshed, the refused status not asked again
    await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.task.attached', '/facteur/intake', 'facteur.events', ${sys.db.sql.json({ ideaId: idea.ideaId })})`;
    await notify.runOnce();
    expect(statusPosts()).toHaveLength(1);
    const ledger = await sys.db.sql`select state from codex_kb.notify_deliveries where idea_id = ${idea.ideaId} and notifier = 'github'`;
    expect(ledger.map((r) => r.state)).toEqual(['sent', 'sent']);
  });
});

describe('a GitHub outage', () => {
  it('delays notifications and loses none; the lifecycle does not wait for them', async () => {
    remotes.down = true;
    const during = [await fromIssue('acme/outage', 'Outage one'), await fromIssue('acme/outage', 'Outage two')];
    // the lifecycle goes on: dispatch plans the ideas while GitHub answers 502
    const report = await tick(sys);
    expect(report.dispatched).toBeGreaterThanOrEqual(2);
    const outage = notifierFor(sys, remotes, {}, { passMs: 600 });
    await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data) values ('facteur.alert.during_outage', '/facteur/alerts', 'facteur.events', ${sys.db.sql.json({ message: 'Discord does not wait for GitHub' })})`;
    await outage.runOnce();
    // Discord's message went out in the same pass: GitHub's retries did not hold it back
    expect(remotes.messages.filter((m) => m.content.includes('Discord does not wait for GitHub'))).toHaveLength(1);
    let pending = await sys.db.sql`select state, last_error from codex_kb.notify_deliveries where repository = 'acme/outage'`;
    expect(pending.length).toBeGreaterThanOrEqual(2);
    expect(pending.every((r) => r.state === 'pending' && /502/.test(r.last_error))).toBe(true);
    // then connections refused altogether
    await remotes.stop();
    const third = await fromIssue('acme/outage', 'Outage three');
    await outage.runOnce();
    pending = await sys.db.sql`select state, last_error from codex_kb.notify_deliveries where repository = 'acme/outage'`;
    expect(pending.every((r) => r.state === 'pending')).toBe(true);
    expect(pending.some((r) => /github_unavailable|GitHub answered 500|ECONNREFUSED|fetch failed/i.test(r.last_error))).toBe(true);
    // operators see them waiting, with the last error
    const listing: any = await (await fetch(`${sys.urls.status}/v1/notifications?notifier=github`)).json();
    expect(listing.items.filter((i: any) => i.repository === 'acme/outage' && i.state === 'pending' && i.lastError).length).toBe(pending.length);
    expect(listing.waiting.find((w: any) => w.notifier === 'github').pending).toBeGreaterThanOrEqual(pending.length);

    // GitHub is back: every idea gets its one comment
    await remotes.start();
    remotes.down = false;
    const until = Date.now() + 20_000;
    while (Date.now() < until) {
      await notify.runOnce();
      const [{ n }] = (await sys.db.sql`select count(*)::int as n from codex_kb.notify_deliveries where repository = 'acme/outage' and state <> 'sent'`) as any;
      if (n === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const idea of [...during, third]) {
      const created = posts('acme/outage', idea.issue).filter((s) => s.status === 201);
      expect(created, `issue ${idea.issue}`).toHaveLength(1);
      const comment = [...remotes.comments.values()].find((c) => c.issue === `acme/outage#${idea.issue}`)!;
      expect(comment.body).toContain(`facteur:idea:${idea.ideaId}`);
    }
  }, 60_000);

  it('dispatch answers its tick at once while GitHub hangs: notifications run beside it', async () => {
    const config = loadConfig({ FACTEUR_CALLBACK_SECRET: 'test-callback-secret', FACTEUR_RETRY_BASE_MS: '0', FACTEUR_MONITOR_WINDOW_S: '0', ...notifyEnv(remotes) });
    const dispatch = await serve(createDispatchHandler({ sql: sys.db.sql, config, log: silentLogger, workflows: sys.workflows, callbackBaseUrl: sys.urls.callbacks }));
    try {
      const idea = await fromIssue('acme/hang', 'Hanging GitHub');
      remotes.delayMs = 3000;
      const t0 = Date.now();
      const res = await fetch(`${dispatch.url}/tick`, { method: 'POST' });
      expect(res.status).toBe(200);
      expect(await res.json()).toHaveProperty('dispatched');
      expect(Date.now() - t0).toBeLessThan(1500);
      // the pass it started finishes on its own, later
      const until = Date.now() + 15_000;
      while (Date.now() < until && posts('acme/hang', idea.issue).every((s) => s.status !== 201)) await new Promise((r) => setTimeout(r, 100));
      expect(posts('acme/hang', idea.issue).filter((s) => s.status === 201)).toHaveLength(1);
    } finally {
      remotes.delayMs = 0;
      await dispatch.close();
    }
  }, 30_000);
});
