// The notifier tests' system: the functions over real HTTP on a test database
// (test/helpers/system.ts), the FAKE GitHub and Discord, and a notifier pointed at it whose
// first pass has started the feeds.
import { loadConfig } from '../../shared/config/index.js';
import { silentLogger } from '../../shared/log/index.js';
import { createNotifications, type Notifications, type NotifyOptions } from '../../shared/notify/index.js';
import { startSystem, submitIdea, type System } from '../helpers/system.js';
import { notifyEnv, startFakeRemotes, type FakeRemotes } from './fake-remotes.js';

export interface NotifySystem {
  readonly sys: System;
  readonly remotes: FakeRemotes;
  readonly notify: Notifications;
  close(): Promise<void>;
}

/** A notifier on `sys`'s database, configured for the FAKE (`extra` variables on top). */
export function notifierFor(sys: System, remotes: FakeRemotes, extra: Record<string, string> = {}, opts: NotifyOptions = {}): Notifications {
  return createNotifications({ sql: sys.db.sql, config: loadConfig(notifyEnv(remotes, extra)), log: silentLogger }, opts)!;
}

export async function startNotifySystem(opts: NotifyOptions = {}): Promise<NotifySystem> {
  const remotes = await startFakeRemotes();
  const sys = await startSystem();
  const notify = notifierFor(sys, remotes, {}, opts);
  await notify.runOnce();
  return {
    sys, remotes, notify,
    async close() {
      await sys.close();
      await remotes.close();
    },
  };
}

/** An idea registered from issue `repository#issue` (a unique Idea Spec id each time). */
export function ideaFromIssue(sys: System, repository: string, issue: number, title = 'An idea'): Promise<{ ideaId: string; taskId: string; issue: number }> {
  return submitIdea(sys, { id: `issue-${repository}-${issue}-${Date.now()}`, title, repository, source: { type: 'github_issue', ref: `${repository}#${issue}` } }).then((r) => ({ ...r, issue }));
}
