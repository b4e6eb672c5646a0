// Discord's `/idea` slash command (seed 001 §6.1), as an interactions endpoint: Discord signs
// every request with the application's Ed25519 key over `X-Signature-Timestamp + body`
// (https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint). A PING
// (type 1) is answered `{"type":1}`; `/idea` (type 2) becomes an Idea Spec; the answer is an
// ephemeral message (type 4, flag 64) with the idea's id and status link, or every problem.
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { WebhookSignatureError } from '../approvals/github.js';
import { ValidationError } from '../errors/index.js';
import type { IdeaSpec } from '../intent/index.js';
import { parseJsonBytes, zodIssues } from '../validation/index.js';
import { specFrom, usableLabels, type FieldNames } from './spec.js';
import type { FieldProblem } from './template.js';

export const DISCORD_PATH = '/discord/interactions';
/** How far a signed timestamp may be from now: a captured request cannot be replayed later. */
export const TIMESTAMP_TOLERANCE_S = 300;
export const EPHEMERAL = 64;

// An Ed25519 SubjectPublicKeyInfo is this fixed DER header followed by the 32 raw key bytes (RFC 8410).
const SPKI_ED25519_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export function discordPublicKey(hex: string): KeyObject {
  return createPublicKey({ key: Buffer.concat([SPKI_ED25519_PREFIX, Buffer.from(hex, 'hex')]), format: 'der', type: 'spki' });
}

/** Throws WebhookSignatureError (401, kept as a dead letter) unless Discord signed this body, recently. */
export function verifyInteraction(key: KeyObject, headers: Readonly<Record<string, string>>, body: Buffer, nowS: number): void {
  const signature = headers['x-signature-ed25519'];
  const timestamp = headers['x-signature-timestamp'];
  if (!signature || !timestamp) throw new WebhookSignatureError('X-Signature-Ed25519 and X-Signature-Timestamp are required');
  if (!/^[0-9a-fA-F]{128}$/.test(signature)) throw new WebhookSignatureError('X-Signature-Ed25519 must be 128 hex digits');
  if (!/^[0-9]{1,12}$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) > TIMESTAMP_TOLERANCE_S) {
    throw new WebhookSignatureError(`X-Signature-Timestamp must be the Unix time in seconds, within ${TIMESTAMP_TOLERANCE_S} s of now`);
  }
  if (!verify(null, Buffer.concat([Buffer.from(timestamp, 'utf8'), body]), key, Buffer.from(signature, 'hex'))) {
    throw new WebhookSignatureError("X-Signature-Ed25519 is not the application's signature of this request");
  }
}

const option = z.looseObject({ name: z.string().max(32), type: z.number().int(), value: z.unknown().optional() });
const user = z.looseObject({ id: z.string().max(30), username: z.string().min(1).max(100) });
const interaction = z.looseObject({
  id: z.string().regex(/^[0-9]{1,20}$/, 'must be a Discord snowflake'),
  type: z.number().int().min(1).max(5),
  data: z.looseObject({ name: z.string().max(32), options: z.array(option).max(25).default([]) }).optional(),
  member: z.looseObject({ user }).optional(),
  user: user.optional(),
});

/** What the `/idea` command's options are called, for the problems a person reads. */
const OPTION_NAMES: FieldNames = Object.freeze({
  title: 'title', goal: 'goal', constraints: 'constraints', successMetrics: 'success-metrics', nonGoals: 'non-goals', repository: 'repository', labels: 'labels',
});
const KNOWN_OPTIONS = new Set(Object.values(OPTION_NAMES));
/** The options a person must give (the Idea Spec needs a repository, a goal and a success metric). */
const REQUIRED_OPTIONS = ['repository', 'goal', 'success-metrics'] as const;

export type Interaction =
  | { readonly kind: 'ping' }
  | { readonly kind: 'other'; readonly id: string; readonly message: string }
  | { readonly kind: 'idea'; readonly id: string; readonly spec: IdeaSpec }
  | { readonly kind: 'invalid'; readonly id: string; readonly problems: readonly FieldProblem[] };

/** `a; b` or one per line: a list option's items. */
const itemsOf = (v: string) => v.split(/[;\n]/).map((s) => s.trim()).filter(Boolean);

export function parseInteraction(body: Buffer): Interaction {
  const r = interaction.safeParse(parseJsonBytes(body, 'Discord interaction'));
  if (!r.success) throw new ValidationError('invalid Discord interaction', zodIssues(r.error));
  const i = r.data;
  if (i.type === 1) return { kind: 'ping' };
  if (i.type !== 2 || i.data?.name !== 'idea') return { kind: 'other', id: i.id, message: 'Facteur answers only the /idea command.' };
  const problems: FieldProblem[] = [];
  const values = new Map<string, string>();
  for (const o of i.data.options) {
    if (!KNOWN_OPTIONS.has(o.name)) problems.push({ field: o.name, message: `is not an option of /idea (${[...KNOWN_OPTIONS].join(', ')})` });
    else if (typeof o.value !== 'string') problems.push({ field: o.name, message: 'must be text' });
    else if (values.has(o.name)) problems.push({ field: o.name, message: 'is given twice' });
    else values.set(o.name, o.value);
  }
  for (const name of REQUIRED_OPTIONS) if (!values.get(name)?.trim() && !problems.some((p) => p.field === name)) problems.push({ field: name, message: 'is required' });
  const who = i.member?.user ?? i.user;
  const goal = values.get('goal') ?? '';
  const result = specFrom({
    // a title when none is given: the goal's first line, shortened
    title: values.get('title') ?? (goal.split('\n')[0]!.trim().slice(0, 100) || 'Idea from Discord'),
    goal, constraints: itemsOf(values.get('constraints') ?? ''), successMetrics: itemsOf(values.get('success-metrics') ?? ''),
    nonGoals: itemsOf(values.get('non-goals') ?? ''), repository: (values.get('repository') ?? '').trim().toLowerCase(),
    labels: usableLabels((values.get('labels') ?? '').split(',')),
    ...(who ? { initiator: { kind: 'discord' as const, login: who.username } } : {}),
    source: { type: 'discord', ref: `interaction:${i.id}` },
  }, OPTION_NAMES);
  for (const p of result.problems ?? []) if (!problems.some((q) => q.field === p.field)) problems.push(p);
  if (problems.length || !result.spec) return { kind: 'invalid', id: i.id, problems };
  return { kind: 'idea', id: i.id, spec: result.spec };
}

/** An ephemeral message (only the person who ran the command sees it), mentioning nobody. */
export function ephemeral(content: string): { type: 4; data: { content: string; flags: number; allowed_mentions: { parse: never[] } } } {
  return { type: 4, data: { content: content.length > 2000 ? content.slice(0, 1997) + '…' : content, flags: EPHEMERAL, allowed_mentions: { parse: [] } } };
}

export function problemsMessage(problems: readonly FieldProblem[]): string {
  return `Your idea was not registered:\n${problems.map((p) => `• ${p.field.slice(0, 40)}: ${p.message}`).join('\n')}`;
}

export function registeredMessage(ideaId: string, duplicate: boolean, dashboardUrl: string | undefined): string {
  const link = dashboardUrl ? `\nStatus: ${dashboardUrl.replace(/\/+$/, '')}/ideas/${ideaId}` : '';
  return `${duplicate ? 'Already registered' : 'Idea registered'}: ${ideaId}${link}`;
}
