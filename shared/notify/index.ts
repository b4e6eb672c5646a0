// Status where people work (seed 001 §5): outbox-driven notifiers — GitHub (one status
// comment per idea, edited in place; commit statuses on pull request heads) and Discord
// (webhook messages) — each switched on by configuration (shared/config/notify.ts).
//
// What drives them: the outbox, read past a per-notifier cursor in transaction order
// (feed.ts), becomes a delivery ledger (notifier × event id → state, attempts, next attempt,
// last error, remote id). A pass reads the feed, then leases subjects with deliveries due
// (ledger.ts: SKIP LOCKED, one instance per subject) and sends them outside any transaction,
// updating the ledger after. A failure is retried with backoff — or after the wait a rate
// limit asked for, the whole scope (repository, webhook) held until then — and never blocks
// the lifecycle: intake, dispatch and callbacks only write the outbox, as they always did;
// passes run in the background (`nudge`), from dispatch's tick and events and local mode's
// timer. An outage delays notifications and loses none: a retryable failure is never given up.
//
//   glossary: subject — what a delivery updates (`idea:<id>` the status comment,
//   `issue:<repo>#<n>` a comment of its own, `webhook` the Discord channel); scope — what
//   paces sends (a repository, the webhook).
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Config } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { messageOf, NonRetriableError, RetryableError, ValidationError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { coalesced } from '../background/coalesce.js';
import type { Notifier } from './classify.js';
import { createDiscordSender } from './discord.js';
import { readFeed } from './feed.js';
import { createGitHubSender } from './github/index.js';
import { claimSubjects, dueDeliveries, holdLease, holdScope, LeaseLost, leaseSeconds, markFailed, markRetry, markSent, nextDueMs, release, type Claimed } from './ledger.js';
import type { Sender } from './sender.js';

export { NOTIFIERS, type Notifier } from './classify.js';
export type { Sender } from './sender.js';
export { createDiscordSender } from './discord.js';
export { createGitHubSender } from './github/index.js';
export { NOTIFY_ROUTES } from './routes.js';

export interface NotifyDeps {
  readonly sql: Sql;
  readonly config: Pick<Config, 'notify'>;
  readonly log: Logger;
}

export interface NotifyReport {
  enqueued: number;
  sent: number;
  retried: number;
  failed: number;
}

export interface Notifications {
  readonly notifiers: readonly Notifier[];
  /** One pass: reads the feeds, then sends what is due until nothing is (or the pass's time is up). */
  runOnce(): Promise<NotifyReport>;
  /** Starts a pass in the background (one at a time; another follows if nudged meanwhile). */
  nudge(): void;
  /** Resolves when no pass is running or pending. */
  idle(): Promise<void>;
}

export interface NotifyOptions {
  /** Who holds the leases this instance takes (default: host, pid and a random suffix). */
  readonly owner?: string;
  /** A pass stops claiming after this long, so one pass cannot run forever. */
  readonly passMs?: number;
  /** How long a claimed or renewed lease lasts (default: `leaseSeconds` of the request timeout). */
  readonly leaseSeconds?: number;
}

/** Subjects leased at once per notifier; one per scope is sent, the others wait for the pacing. */
const CLAIM = 8;
/** A pass waits for deliveries due this soon rather than leaving them to the next pass. */
const WAIT_IN_PASS_MS = 5000;

/** The configured notifiers; undefined when none is switched on. */
export function createNotifications(deps: NotifyDeps, opts: NotifyOptions = {}): Notifications | undefined {
  const cfg = deps.config.notify;
  const log = deps.log.child({ component: 'notify' });
  const senders: Sender[] = [
    ...(cfg.github ? [createGitHubSender(deps.sql, cfg, log)] : []),
    ...(cfg.discord ? [createDiscordSender(deps.sql, cfg)] : []),
  ];
  if (senders.length === 0) return undefined;
  const owner = opts.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const passMs = opts.passMs ?? 20_000;
  const leaseS = opts.leaseSeconds ?? leaseSeconds(cfg.timeoutMs);

  const backoffMs = (attempts: number) => Math.round(Math.min(cfg.retryMaxMs, cfg.retryBaseMs * 2 ** Math.min(attempts, 30)) * (0.5 + Math.random() / 2));

  async function deliver(s: Sender, c: Claimed, report: NotifyReport): Promise<void> {
    const due = await dueDeliveries(deps.sql, s.notifier, c.subject, s.coalesce ? 200 : 1);
    if (due.length === 0) return;
    const ids = due.map((d) => d.eventId);
    try {
      const { remoteId } = await s.send(c.subject, due, { hold: () => holdLease(deps.sql, c, owner, leaseS) });
      await markSent(deps.sql, s.notifier, ids, remoteId);
      report.sent += ids.length;
    } catch (err) {
      const message = messageOf(err);
      if (err instanceof LeaseLost) {
        // another instance claimed the subject after our lease ran out: it sends what is due
        log.info('notification lease taken over; the new holder sends', { notifier: s.notifier, subject: c.subject });
        return;
      }
      if (err instanceof NonRetriableError || err instanceof ValidationError) {
        await markFailed(deps.sql, s.notifier, ids, `${err.code}: ${message}`);
        report.failed += ids.length;
        log.warn('notification refused; kept as failed', { notifier: s.notifier, subject: c.subject, code: err.code, error: message });
      } else {
        const asked = err instanceof RetryableError && err.code === 'rate_limited' ? err.retryAfterMs : undefined;
        if (asked !== undefined) await holdScope(deps.sql, s.notifier, c.scope, asked, message);
        const wait = asked ?? (err instanceof RetryableError && err.retryAfterMs !== undefined ? err.retryAfterMs : backoffMs(Math.min(...due.map((d) => d.attempts))));
        await markRetry(deps.sql, s.notifier, ids, wait, message);
        report.retried += ids.length;
        log.info('notification delayed; retried later', { notifier: s.notifier, subject: c.subject, retryInMs: wait, error: message });
      }
    }
    if (s.minIntervalMs > 0) await holdScope(deps.sql, s.notifier, c.scope, s.minIntervalMs, 'pacing');
  }

  async function drain(s: Sender, report: NotifyReport, until: number): Promise<void> {
    while (Date.now() < until) {
      const claimed = await claimSubjects(deps.sql, s.notifier, owner, CLAIM, leaseS);
      if (claimed.length === 0) {
        // a delivery due within the pass (a short pacing or rate-limit wait) is waited for here
        const ms = await nextDueMs(deps.sql, s.notifier);
        if (ms === undefined || ms > WAIT_IN_PASS_MS || Date.now() + ms >= until) return;
        await new Promise((r) => setTimeout(r, Math.max(ms, 50)));
        continue;
      }
      // one subject per scope now: the scope's pacing starts after its send
      const scopes = new Set<string>();
      const now: Claimed[] = [];
      const later: Claimed[] = [];
      for (const c of claimed) {
        (scopes.has(c.scope) ? later : now).push(c);
        scopes.add(c.scope);
      }
      await Promise.all(later.map((c) => release(deps.sql, c, owner)));
      await Promise.all(now.map(async (c) => {
        try {
          await deliver(s, c, report);
        } finally {
          await release(deps.sql, c, owner);
        }
      }));
    }
  }

  async function runOnce(): Promise<NotifyReport> {
    const report: NotifyReport = { enqueued: 0, sent: 0, retried: 0, failed: 0 };
    const until = Date.now() + passMs;
    // side by side: a GitHub outage's retries never hold Discord's messages back
    await Promise.all(senders.map(async (s) => {
      report.enqueued += await readFeed(deps.sql, s.notifier);
      await drain(s, report, until);
    }));
    return report;
  }

  const background = coalesced(runOnce, log, 'notification pass failed; the next one retries');

  return {
    notifiers: senders.map((s) => s.notifier),
    runOnce,
    nudge: background.nudge,
    idle: background.idle,
  };
}
