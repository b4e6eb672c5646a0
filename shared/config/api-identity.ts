// Who may call the people's APIs (status, policy): named API tokens with roles, held as
// sha256 hashes only, and the roles of the people Tailscale vouches for. Parsed here once,
// with every problem listed, so a bad setting stops the start with one clear line.
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ROLES, type Role } from '../policy/roles.js';

export { ROLES, type Role } from '../policy/roles.js';

export interface ApiToken {
  readonly name: string;
  /** Lower-case hex of sha256(token): the clear token is never configured. */
  readonly sha256: string;
  readonly roles: readonly Role[];
  /** May name the person it acts for in `X-Facteur-Actor` (a chat bot, a web front end). */
  readonly actFor: boolean;
}

const tokenName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'must be 1–63 lowercase letters, digits, ".", "_" or "-"');
const roles = z.array(z.enum(ROLES, { error: `must be one of ${ROLES.join(', ')}` })).max(ROLES.length);

const tokensSchema = z
  .array(
    z.strictObject({
      name: tokenName,
      sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be the 64 hex digits of sha256(token), never the token itself').transform((h) => h.toLowerCase()),
      roles,
      actFor: z.boolean().default(false),
    }),
  )
  .max(1000)
  .superRefine((list, ctx) => {
    const seen = new Map<string, number>();
    list.forEach((t, i) => {
      if (seen.has(t.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `"${t.name}" is named twice (first at ${seen.get(t.name)})` });
      seen.set(t.name, i);
    });
    const hashes = new Map<string, number>();
    list.forEach((t, i) => {
      if (hashes.has(t.sha256)) ctx.addIssue({ code: 'custom', path: [i, 'sha256'], message: `the same token hash as entry ${hashes.get(t.sha256)}` });
      hashes.set(t.sha256, i);
    });
  });

/** `[{"name","sha256","roles","actFor"}]`, or `@/path/to/file.json` (a mounted Secret). */
export const apiTokens = z.string().transform((v, ctx): ApiToken[] => {
  let text = v;
  if (v.startsWith('@')) {
    try {
      text = readFileSync(v.slice(1), 'utf8');
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `cannot read ${v.slice(1)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return z.NEVER;
    }
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // the text is never echoed: it could be a clear token pasted by mistake
    ctx.addIssue({ code: 'custom', message: 'must be a JSON array like [{"name":"ci-bot","sha256":"<hex of sha256(token)>","roles":["viewer"],"actFor":false}]' });
    return z.NEVER;
  }
  const r = tokensSchema.safeParse(parsed);
  if (!r.success) {
    for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: `${i.path.join('.') || '(root)'}: ${i.message}` });
    return z.NEVER;
  }
  return r.data;
});

/** A JSON object of `name → list`, every problem listed; a null-prototype map ("__proto__" is just a name). */
function jsonMap<T>(example: string, value: z.ZodType<T>) {
  return z.string().transform((v, ctx): Record<string, T> => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(v);
    } catch {
      ctx.addIssue({ code: 'custom', message: `must be JSON like ${example}` });
      return z.NEVER;
    }
    const r = z.record(z.string().min(1).max(200), value).safeParse(parsed);
    if (!r.success) {
      for (const i of r.error.issues) ctx.addIssue({ code: 'custom', message: `${i.path.join('.') || '(root)'}: ${i.message}` });
      return z.NEVER;
    }
    return Object.assign(Object.create(null) as Record<string, T>, r.data);
  });
}

/** `{"alice@example.com": ["viewer", "approver"]}`: the roles of each Tailscale login. */
export const tailscaleRoles = jsonMap<readonly Role[]>('{"alice@example.com":["viewer","approver"]}', roles);

/** `{"octocat": ["approver"]}`: the roles of GitHub logins voting by comment (`approvals.eligible.roles`). */
export const githubRoles = z
  .string()
  .pipe(jsonMap<readonly Role[]>('{"octocat":["approver"]}', roles))
  .transform((m) => Object.assign(Object.create(null) as Record<string, readonly Role[]>, Object.fromEntries(Object.entries(m).map(([k, v]) => [k.toLowerCase(), v]))));

/**
 * `{"platform": ["alice", "octocat"]}`: who is in each team an approval may name
 * (`approvals.eligible.teams`), by the name a vote comes with — a GitHub login, the person a
 * token acts for, a Tailscale login. Kept as member (lower-cased) → teams.
 */
export const approverTeams = z
  .string()
  .pipe(jsonMap<readonly string[]>('{"platform":["alice","octocat"]}', z.array(z.string().min(1).max(200)).max(1000)))
  .transform((byTeam) => {
    const byMember = Object.create(null) as Record<string, string[]>;
    for (const [team, members] of Object.entries(byTeam)) for (const m of members) (byMember[m.toLowerCase()] ??= []).push(team);
    return byMember as Readonly<Record<string, readonly string[]>>;
  });

/** The teams of a person in such a map; none when absent. */
export function teamsOf(byMember: Readonly<Record<string, readonly string[]>>, name: string): readonly string[] {
  const key = name.toLowerCase();
  return Object.hasOwn(byMember, key) ? byMember[key]! : [];
}
