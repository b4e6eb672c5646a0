// Two notifier instances, each on its own connection pool (two replicas of dispatch), racing
// over the same feed: every idea gets one status comment and every alert one Discord
// message. What keeps it: the subject's lease, claimed with SKIP LOCKED in one statement.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createNotifications, type Notifications } from '../../shared/notify/index.js';
import { readFeed } from '../../shared/notify/feed.js';
import { claimSubjects, leaseSeconds, release, type Claimed } from '../../shared/notify/ledger.js';
import { extraPool } from '../helpers/db.js';
import { submitIdea, type System } from '../helpers/system.js';
import { notifyEnv, type FakeRemotes } from './fake-remotes.js';
import { ideaFromIssue, startNotifySystem, type NotifySystem } from './system.js';

let t: NotifySystem;
let sys: System;
let remotes: FakeRemotes;
let a: Notifications;
let b: Notifications;

beforeAll(async () => {
  t = await startNotifySystem();
  ({ sys, remotes, notify: a } = t);
  // the second instance: its own pool, its own lease owner
  b = createNotifications({ sql: extraPool(sys.db, 10), config: loadConfig(notifyEnv(remotes)), log: silentLogger }, { owner: 'instance-b', passMs: 10_000 })!;
});
afterAll(() => t?.close());

describe('two notifier instances racing', () => {
  it('never post the same comment or message twice', async () => {
    const ideas = [];
    for (let i = 0; i < 12; i++) {
      ideas.push(await submitIdea(sys, { id: `race-${i}-${Date.now()}`, title: `Race ${i}`, repository: i % 2 ? 'acme/web' : 'acme/api', source: { type: 'github_issue', ref: `${i % 2 ? 'acme/web' : 'acme/api'}#${100 + i}` } }));
    }
    for (let i = 0; i < 10; i++) {
      await sys.db.sql`insert into codex_kb.outbox (type, source, topic, data)
                       values ('facteur.alert.stuck_task', '/facteur/alerts', 'facteur.events', ${sys.db.sql.json({ ideaId: ideas[i]!.ideaId, message: `alert ${i}` })})`;
    }
    remotes.delayMs = 20;
    const reports = await Promise.all([a.runOnce(), b.runOnce(), a.runOnce(), b.runOnce()]);
    remotes.delayMs = 0;
    // each event delivered once in all: 12 registrations and 10 alerts refresh the comments, 10 alerts on Discord
    expect(reports.reduce((n, r) => n + r.sent, 0)).toBe(12 + 10 + 10);
    for (const [i, idea] of ideas.entries()) {
      const repo = i % 2 ? 'acme/web' : 'acme/api';
      const creates = remotes.seen.filter((s) => s.method === 'POST' && s.path === `/github/repos/${repo}/issues/${100 + i}/comments`);
      expect(creates, idea.ideaId).toHaveLength(1);
    }
    const alerts = remotes.messages.filter((m) => m.content.includes('stuck\\_task'));
    expect(alerts).toHaveLength(10);
    expect(new Set(alerts.map((m) => m.content)).size).toBe(10);
    const [{ n }] = (await sys.db.sql`select count(*)::int as n from codex_kb.notify_deliveries where state <> 'sent'`) as any;
    expect(n).toBe(0);
    // none of these ideas moved: the sweep saw no move (the render time is kept to the microsecond)
    await Promise.all([a.runOnce(), b.runOnce()]);
    expect(await sys.db.sql`select idea_id from codex_kb.notify_deliveries where event_type = 'facteur.idea.moved'`).toHaveLength(0);
  }, 60_000);

  it('a leased subject is not claimed by another instance until it is released', async () => {
    const { ideaId } = await submitIdea(sys, { id: `lease-${Date.now()}`, title: 'Lease', repository: 'acme/web', source: { type: 'github_issue', ref: 'acme/web#300' } });
    const other = extraPool(sys.db, 2);
    // the feed only: deliveries created, nothing sent yet
    await readFeed(sys.db.sql, 'github');
    const [first, second] = await Promise.all([claimSubjects(sys.db.sql, 'github', 'a', 8, 60), claimSubjects(other, 'github', 'b', 8, 60)]);
    const mine = (c: Claimed[]) => c.filter((x) => x.subject === `idea:${ideaId}`);
    expect(mine(first).length + mine(second).length).toBe(1);
    const holder = mine(first).length ? 'a' : 'b';
    const taken = mine(first)[0] ?? mine(second)[0]!;
    expect(mine(await claimSubjects(holder === 'a' ? other : sys.db.sql, 'github', holder === 'a' ? 'b' : 'a', 8, 60))).toEqual([]);
    // a release by someone who does not hold the lease changes nothing
    await release(sys.db.sql, taken, holder === 'a' ? 'b' : 'a');
    expect(mine(await claimSubjects(other, 'github', 'c', 8, 60))).toEqual([]);
    await release(sys.db.sql, taken, holder);
    expect(mine(await claimSubjects(other, 'github', 'c', 8, 60))).toHaveLength(1);
    // an instance that dies holding a lease: its subject is free once the lease ends, not before
    await release(sys.db.sql, taken, 'c');
    expect(mine(await claimSubjects(other, 'github', 'dead', 8, 1))).toHaveLength(1);
    expect(mine(await claimSubjects(sys.db.sql, 'github', 'e', 8, 60))).toEqual([]);
    await new Promise((r) => setTimeout(r, 1100));
    expect(mine(await claimSubjects(sys.db.sql, 'github', 'e', 8, 60))).toHaveLength(1);
    // the lease a notifier takes: 6 requests' worth of its request timeout, at least 15 s
    expect([leaseSeconds(10_000), leaseSeconds(2_000)]).toEqual([60, 15]);
  });

  it('an instance whose lease ran out mid-send stops before its write: the new holder posts the one comment', async () => {
    // A leases for 1 s and asks for the issue's comments; the answer (none) reaches it only
    // after its lease has ended and B has claimed the subject, found no comment and created
    // one. A's create must not follow: it renews the lease first, and the lease is B's now
    // (chaos seed 31337 made two).
    const slow = createNotifications({ sql: extraPool(sys.db, 4), config: loadConfig(notifyEnv(remotes)), log: silentLogger }, { owner: 'slow-a', passMs: 4000, leaseSeconds: 1 })!;
    const { ideaId, issue } = await ideaFromIssue(sys, 'acme/api', 400, 'Slow lease');
    let answer!: () => void;
    const listing = /^\/github\/repos\/acme\/api\/issues\/400\/comments$/;
    remotes.lateAnswers.push({ match: /^GET \/github\/repos\/acme\/api\/issues\/400\/comments$/, until: new Promise<void>((r) => (answer = r)) });
    const aPass = slow.runOnce();
    await until(async () => remotes.seen.some((s) => s.method === 'GET' && listing.test(s.path)));
    await until(async () => (await sys.db.sql`select 1 from codex_kb.notify_subjects
                                               where subject = ${`idea:${ideaId}`} and leased_until < now()`).length === 1);
    const bReport = await b.runOnce();
    answer();
    const aReport = await aPass;
    const creates = remotes.seen.filter((s) => s.method === 'POST' && s.path === `/github/repos/acme/api/issues/${issue}/comments`);
    expect(creates).toHaveLength(1);
    expect(bReport.sent).toBeGreaterThanOrEqual(1);
    expect(aReport).toMatchObject({ sent: 0, retried: 0, failed: 0 });
    const comments = [...remotes.comments.values()].filter((c) => c.body.includes(`<!-- facteur:idea:${ideaId} -->`));
    expect(comments).toHaveLength(1);
    expect(await sys.db.sql`select event_id from codex_kb.notify_deliveries where idea_id = ${ideaId} and state <> 'sent'`).toHaveLength(0);
  }, 30_000);
});

async function until(ok: () => Promise<boolean>): Promise<void> {
  for (const started = Date.now(); !(await ok()); await new Promise((r) => setTimeout(r, 25))) {
    if (Date.now() - started > 20_000) throw new Error('timed out waiting');
  }
}
