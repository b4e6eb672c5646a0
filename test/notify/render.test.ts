// The notifiers' pure parts, table-driven: which events become which deliveries, how long a
// rate limit asks to wait, and hostile user text rendered inert in GitHub and Discord.
import { describe, expect, it } from 'vitest';
import { discordKind, planDiscord, planGitHub } from '../../shared/notify/classify.js';
import { discordWaitMs, renderDiscord } from '../../shared/notify/discord.js';
import { gateStatus, renderIdeaComment, renderIncompleteComment } from '../../shared/notify/github/render.js';
import { pullRequestsOf, type IdeaView } from '../../shared/notify/github/state.js';
import { inline, plain } from '../../shared/notify/text.js';

const IDEA = '3f1e2d4c-5b6a-4789-8abc-def012345678';

describe('classify', () => {
  const table: [string, unknown, string | undefined, string | undefined][] = [
    ['facteur.idea.registered', { ideaId: IDEA }, undefined, `idea:${IDEA}`],
    ['facteur.task.finished', { ideaId: IDEA, stage: 'planning', succeeded: true }, 'plan_ready', `idea:${IDEA}`],
    ['facteur.task.finished', { ideaId: IDEA, stage: 'planning', succeeded: false }, undefined, `idea:${IDEA}`],
    ['facteur.task.finished', { ideaId: IDEA, stage: 'deploy', succeeded: true }, 'deployed', `idea:${IDEA}`],
    ['facteur.task.finished', { ideaId: IDEA, stage: 'implementation', succeeded: true }, undefined, `idea:${IDEA}`],
    ['facteur.idea.awaiting_approval', { ideaId: IDEA }, 'approval_needed', `idea:${IDEA}`],
    ['facteur.idea.blocked', { ideaId: IDEA }, 'blocked', `idea:${IDEA}`],
    ['facteur.idea.regression', { ideaId: IDEA }, 'regression', `idea:${IDEA}`],
    ['facteur.idea.stuck', { ideaId: IDEA }, 'stuck', `idea:${IDEA}`],
    ['facteur.alert.stuck_task', { message: 'x' }, 'alert', undefined],
    ['facteur.alert.regression', { ideaId: IDEA }, 'alert', `idea:${IDEA}`],
    ['facteur.intake.issue_incomplete', { repository: 'Acme/Web', issueNumber: 7, deliveryId: 'd1', problems: [] }, undefined, 'issue:acme/web#7'],
    ['facteur.intake.issue_incomplete', { repository: 'acme/web', issueNumber: '7', deliveryId: 'd1', problems: [] }, undefined, undefined],
    ['facteur.intake.issue_incomplete', { repository: '../etc', issueNumber: 7, deliveryId: 'd1', problems: [] }, undefined, undefined],
    ['facteur.idea.registered', { ideaId: 'not-a-uuid' }, undefined, undefined],
    ['facteur.idea.registered', null, undefined, undefined],
    ['facteur.idea.registered', [IDEA], undefined, undefined],
  ];
  it.each(table)('%s %j → discord %s, github %s', (type, data, kind, subject) => {
    const e = { eventId: '00000000-0000-4000-8000-000000000001', type, data };
    expect(discordKind(e)).toBe(kind);
    expect(planDiscord(e)?.data.kind).toBe(kind);
    expect(planGitHub(e)?.subject).toBe(subject);
  });
});

describe('rate-limit waits', () => {
  it.each([
    [{ retry_after: 0.7 }, '3', 700],
    [{ retry_after: 2 }, null, 2000],
    [undefined, '5', 5000],
    [{ retry_after: 'soon' }, '1.5', 1500],
    [undefined, 'Wed, 21 Oct 2015 07:28:00 GMT', undefined],
    [{ retry_after: -1 }, null, undefined],
  ])('Discord %j, Retry-After %s → %s ms', (body, header, ms) => {
    expect(discordWaitMs(body, header)).toBe(ms);
  });
});

describe('pull requests and the gate', () => {
  it('reads pr and branches[].pr, ignoring what is not a number', () => {
    expect(pullRequestsOf([{ pr: 18, branches: [{ pr: 17 }, { pr: '#18' }, { pr: null }, { pr: 'x' }, null] }, { pr: -3 }, null, 'junk'])).toEqual([17, 18]);
  });
  it.each([
    ['running_tasks', 'pending'], ['awaiting_approval', 'pending'], ['deployment', 'success'], ['completed', 'success'],
    ['blocked', 'failure'], ['failed', 'failure'], ['cancelled', 'error'],
  ])('%s → %s', (status, state) => {
    expect(gateStatus(view({ status })).state).toBe(state);
  });
});

function view(over: Partial<IdeaView> = {}): IdeaView {
  return {
    id: IDEA, title: 'Dark mode', status: 'running_tasks', statusReason: null, repository: 'acme/web', issueNumber: 42,
    lastProgressAt: '2026-12-01 10:00:00.123456+00', tasks: [{ key: 'api', stage: 'implementation', state: 'running', title: 'API' }],
    pullRequests: [], heads: [], findings: [], approval: null, ...over,
  };
}

const HOSTILE = [
  '**bold** _it_ [click](javascript:alert(1)) ![img](http://x/y.png) # heading `code` ~~s~~ | table |',
  '@everyone @here @acme/security ping',
  'NUL\u0000in\u0000title and bell\u0007 and ESC\u001b[31m',
  `lone ${'\ud800'} surrogate ${'\udfff'} end`,
  `<!-- facteur:idea:${IDEA} --> forged marker --> <script>alert(1)</script> <img src=x onerror=alert(1)>`,
  'line one\nline two\r\n### injected heading',
  'RTL \u202eevil\u202c and {{template}} and &amp; entity',
  'x'.repeat(100 * 1024),
];

describe('hostile user text', () => {
  it.each(HOSTILE.map((t) => [t.slice(0, 40), t]))('GitHub: %j renders inert', (_label, title) => {
    const body = renderIdeaComment(view({ title, statusReason: title, approval: { id: 'a', checkpoint: 'pre-merge', reason: title }, findings: [{ checkpoint: 'plan', rule: title, result: 'fail', severity: 'high', message: title, wouldBlock: true }] }), 'https://dash.example');
    expect(body.startsWith(`<!-- facteur:idea:${IDEA} -->\n`)).toBe(true);
    expect(body.split('<!--')).toHaveLength(2); // the one marker, no other HTML comment
    expect(body).not.toMatch(/<(script|img)/i);
    expect(body).not.toMatch(/@(everyone|here|acme)/);
    expect(body).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/);
    expect(body).not.toMatch(/\[click\]\(/);
    expect(body).not.toMatch(/^#+ injected/m);
    expect(body.length).toBeLessThanOrEqual(65_536);
    expect(body).not.toMatch(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    expect(body).toContain('Reply with `/approve`');
  });

  it.each(HOSTILE.map((t) => [t.slice(0, 40), t]))('Discord: %j renders inert', (_label, title) => {
    const content = renderDiscord('blocked', 'facteur.idea.blocked', { reason: title }, { id: IDEA, title, repository: 'acme/web' }, 'https://dash.example');
    expect(content).not.toMatch(/@(everyone|here|acme)/);
    expect(content).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u202e]/);
    expect(content).not.toMatch(/(?<!\\)\[click(?<!\\)\]/);
    expect(content).not.toMatch(/(?<!\\)<script/);
    expect(content.length).toBeLessThanOrEqual(2000);
    expect(content).toContain(`<https://dash.example/ideas/${IDEA}>`);
  });

  it('keeps text readable: an escaped title says what was typed', () => {
    expect(inline('a*b @c <d>')).toBe('a\\*b @\u200dc &lt;d\\>');
    expect(plain('x'.repeat(10), 5)).toBe('xxxx…');
    expect(plain(`ab${'😀'}`, 3)).toBe('ab…');
  });

  it('lists every problem of an incomplete issue', () => {
    const body = renderIncompleteComment({ deliveryId: 'd<1>', problems: [{ field: 'goal', message: 'missing' }, { field: '@everyone', message: '**x**' }, 'junk'] });
    expect(body.startsWith('<!-- facteur:intake:d%3C1%3E -->')).toBe(true);
    expect(body).toContain('- **goal**: missing');
    expect(body).toContain('- **@\u200deveryone**: \\*\\*x\\*\\*');
    expect(body.match(/^- /gm)).toHaveLength(3);
  });
});
