// The Discord notifier: one webhook message per transition a team cares about (classify.ts
// says which). The webhook URL is a Secret (it is the credential): it is never logged and no
// error message carries it. `allowed_mentions: {parse: []}` means no text can ping anyone,
// and user text is escaped as well (text.ts). A 429 is waited out as Discord asks
// (`retry_after` in the body, `Retry-After` in the headers): the ledger makes the delivery due
// again then, and holds the webhook's scope until then.
//
// What a crash can repeat: a message Discord accepted whose id was not yet recorded is sent
// again (a webhook cannot be searched for what it posted). Only that one message, once.
import type { NotifyConfig } from '../config/index.js';
import type { Sql } from '../db/index.js';
import { NonRetriableError, RetryableError } from '../errors/index.js';
import type { DiscordKind } from './classify.js';
import { dashboardLink } from './github/render.js';
import type { Delivery } from './ledger.js';
import type { Lease, Sender } from './sender.js';
import { discordInline } from './text.js';

/** Discord refuses content past 2000 characters. */
const CONTENT_MAX = 2000;

const HEADLINES: Readonly<Record<DiscordKind, string>> = {
  plan_ready: '🗺️ Plan ready',
  approval_needed: '✋ Approval needed',
  blocked: '⛔ Blocked',
  deployed: '🚀 Deployed',
  regression: '📉 Regression after deploy',
  stuck: '⏳ Stuck',
  alert: '🚨 Alert',
};

export interface IdeaLine {
  readonly id: string;
  readonly title: string;
  readonly repository: string;
}

/** The message for a delivery: pure, so hostile titles and reasons are tested as text. */
export function renderDiscord(kind: DiscordKind, eventType: string, data: Record<string, unknown>, idea: IdeaLine | undefined, dashboardUrl: string | undefined): string {
  const head = kind === 'alert' ? `${HEADLINES.alert} (${discordInline(eventType.replace(/^facteur\.alert\./, ''), 60)})` : HEADLINES[kind];
  const parts = [`**${head}**`];
  if (idea) parts.push(`: **${discordInline(idea.title, 200)}** in \`${idea.repository.replace(/`/g, '')}\``);
  const detail = data.reason ?? data.message ?? data.summary;
  if (typeof detail === 'string' && detail) parts.push(` — ${discordInline(detail, 600)}`);
  if (kind === 'stuck' && typeof data.minutes === 'number') parts.push(` — no progress for ${data.minutes} minutes`);
  if (kind === 'regression' && Array.isArray(data.breaches)) parts.push(` — ${data.breaches.length} threshold(s) breached`);
  const link = idea ? dashboardLink(dashboardUrl, idea.id) : dashboardUrl;
  if (link) parts.push(`\n<${link}>`);
  const content = parts.join('');
  return content.length <= CONTENT_MAX ? content : `${content.slice(0, CONTENT_MAX - 1)}…`;
}

/** Seconds → ms from `retry_after` (body) or `Retry-After` (header); undefined when neither says. */
export function discordWaitMs(body: unknown, retryAfter: string | null): number | undefined {
  const s = (body as { retry_after?: unknown } | null)?.retry_after;
  if (typeof s === 'number' && Number.isFinite(s) && s >= 0) return Math.ceil(s * 1000);
  if (retryAfter !== null && /^\d+(\.\d+)?$/.test(retryAfter.trim())) return Math.ceil(Number(retryAfter) * 1000);
  return undefined;
}

export function createDiscordSender(sql: Sql, cfg: NotifyConfig): Sender {
  const discord = cfg.discord!;
  return {
    notifier: 'discord',
    coalesce: false,
    minIntervalMs: discord.minIntervalMs,
    async send(_subject, deliveries, lease) {
      let last: string | null = null;
      for (const d of deliveries) last = await post(sql, cfg, d, lease);
      return { remoteId: last };
    },
  };
}

async function post(sql: Sql, cfg: NotifyConfig, d: Delivery, lease: Lease): Promise<string | null> {
  const [idea] = d.ideaId
    ? await sql<IdeaLine[]>`select id::text, title, repository from codex_kb.ideas where id = ${d.ideaId}`
    : [];
  const content = renderDiscord(d.data.kind as DiscordKind, d.eventType, d.data, idea, cfg.dashboardUrl);
  const url = new URL(cfg.discord!.webhookUrl.reveal());
  url.searchParams.set('wait', 'true');
  let res: Response;
  await lease.hold();
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content, username: 'Facteur', allowed_mentions: { parse: [] } }),
      signal: AbortSignal.timeout(cfg.timeoutMs),
    });
  } catch (err) {
    // the cause names the failure (ECONNREFUSED, a timeout), never the webhook's path
    const cause = (err as { cause?: { code?: unknown } }).cause?.code ?? (err as Error).name;
    throw new RetryableError('discord_unavailable', `Discord webhook unreachable (${String(cause)})`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (res.ok) return typeof (body as { id?: unknown })?.id === 'string' ? (body as { id: string }).id : null;
  if (res.status === 429) {
    const wait = discordWaitMs(body, res.headers.get('retry-after')) ?? 5000;
    throw new RetryableError('rate_limited', `Discord rate limit: retry in ${Math.ceil(wait / 1000)} s`, wait);
  }
  if (res.status >= 500) throw new RetryableError('discord_unavailable', `Discord answered ${res.status}`);
  const message = typeof (body as { message?: unknown })?.message === 'string' ? (body as { message: string }).message.slice(0, 200) : '';
  throw new NonRetriableError('discord_rejected', `Discord answered ${res.status}${message ? ` (${message})` : ''}`);
}
