// The idea template as people fill it in an issue, table-driven: messy bodies parse to the
// fields a person meant, and what is missing or empty is said once per field.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { decideIssue } from '../../shared/sources/github-issue.js';
import { fieldOfHeading, missingFields, parseTemplate } from '../../shared/sources/template.js';

const FILLED = ['## Goal', 'Make checkout fast.', '', '## Constraints', '- keep the API', '- no new services', '', '## Success metrics', '- p95 < 200 ms', '', '## Non-goals', '- a redesign', ''].join('\n');

interface Case {
  readonly name: string;
  readonly body: string;
  readonly goal?: string;
  readonly constraints?: string[];
  readonly successMetrics?: string[];
  readonly nonGoals?: string[];
  /** The fields said to be missing or empty. */
  readonly problems?: string[];
}

const cases: Case[] = [
  { name: 'the template filled in', body: FILLED, goal: 'Make checkout fast.', constraints: ['keep the API', 'no new services'], successMetrics: ['p95 < 200 ms'], nonGoals: ['a redesign'], problems: [] },
  { name: 'CRLF line ends', body: FILLED.replace(/\n/g, '\r\n'), goal: 'Make checkout fast.', constraints: ['keep the API', 'no new services'], problems: [] },
  { name: 'a lone CR', body: FILLED.replace(/\n/g, '\r'), successMetrics: ['p95 < 200 ms'], problems: [] },
  { name: '### headings (issue forms)', body: FILLED.replace(/## /g, '### '), goal: 'Make checkout fast.', nonGoals: ['a redesign'], problems: [] },
  { name: '# and ###### headings, closing hashes', body: FILLED.replace('## Goal', '# Goal #').replace('## Constraints', '###### Constraints ######'), constraints: ['keep the API', 'no new services'], problems: [] },
  { name: 'headings in other case', body: FILLED.replace('## Goal', '## GOAL').replace('## Success metrics', '## success Metrics').replace('## Non-goals', '## NON GOALS'), goal: 'Make checkout fast.', successMetrics: ['p95 < 200 ms'], nonGoals: ['a redesign'], problems: [] },
  { name: 'emoji and "(required)" in headings', body: FILLED.replace('## Goal', '## 🎯 Goal (required)').replace('## Success metrics', '## ✅ Success metrics *'), goal: 'Make checkout fast.', successMetrics: ['p95 < 200 ms'], problems: [] },
  { name: 'emoji in the text', body: FILLED.replace('Make checkout fast.', 'Make checkout fast 🚀'), goal: 'Make checkout fast 🚀', problems: [] },
  { name: 'extra sections are ignored and end the one before', body: FILLED.replace('## Constraints', '## Context\nsome background\n\n## Constraints') + '\n## Notes\n- not a non-goal', goal: 'Make checkout fast.', nonGoals: ['a redesign'], problems: [] },
  { name: "the template's HTML comments left in", body: readFileSync('docs/idea-template.md', 'utf8').replace('## Goal\n', '## Goal\nShip it.\n').replace('## Constraints\n\n<!-- What the change must respect: APIs that must not break, dependencies, budgets, deadlines. -->\n- ', '## Constraints\n\n<!-- What the change must respect: APIs that must not break, dependencies, budgets, deadlines. -->\n- one').replace('## Success metrics\n\n<!-- How we will know it worked: tests that pass, numbers to reach. -->\n- ', '## Success metrics\n\n<!-- How we will know it worked: tests that pass, numbers to reach. -->\n- two'), goal: 'Ship it.', constraints: ['one'], successMetrics: ['two'], nonGoals: [], problems: [] },
  { name: 'a comment spanning lines with a heading inside', body: FILLED.replace('## Non-goals', '<!--\n## Goal\nnot this\n-->\n## Non-goals'), goal: 'Make checkout fast.', problems: [] },
  { name: 'a comment in the middle of a line', body: FILLED.replace('- keep the API', '- keep <!-- the old --> the API'), constraints: ['keep the API', 'no new services'], problems: [] },
  { name: 'ticked boxes count, unticked ones are options not chosen', body: FILLED.replace('- keep the API\n- no new services', '- [x] keep the API\n- [ ] rewrite in Rust\n- [X] no new services\n* [ ]'), constraints: ['keep the API', 'no new services'], problems: [] },
  { name: 'numbered lists and * items', body: FILLED.replace('- keep the API\n- no new services', '1. keep the API\n2) no new services').replace('- p95', '* p95'), constraints: ['keep the API', 'no new services'], successMetrics: ['p95 < 200 ms'], problems: [] },
  { name: 'paragraphs instead of lists; continuation lines joined', body: FILLED.replace('- keep the API\n- no new services', 'keep the API\nas it is\n\nno new services'), constraints: ['keep the API as it is', 'no new services'], problems: [] },
  { name: 'a code fence holding "## Goal" is text of its section', body: FILLED.replace('Make checkout fast.', 'Make checkout fast.\n```md\n## Goal\nnot a heading\n```').replace('## Non-goals\n- a redesign', '## Non-goals\n~~~\n## Constraints\n~~~'), goal: 'Make checkout fast.\n```md\n## Goal\nnot a heading\n```', constraints: ['keep the API', 'no new services'], problems: [] },
  { name: 'empty sections', body: '## Goal\n\n## Constraints\n- \n## Success metrics\n_No response_\n## Non-goals\n', goal: '', constraints: [], successMetrics: [], nonGoals: [], problems: ['Goal', 'Constraints', 'Success metrics'] },
  { name: 'placeholders are empty', body: FILLED.replace('Make checkout fast.', 'N/A').replace('- p95 < 200 ms', '- TBD'), problems: ['Goal', 'Success metrics'] },
  { name: 'missing sections', body: '## Goal\nSomething.', goal: 'Something.', problems: ['Constraints', 'Success metrics'] },
  { name: 'no template at all', body: 'It crashes when I click.', problems: ['Goal', 'Constraints', 'Success metrics'] },
  { name: 'an empty body', body: '', problems: ['Goal', 'Constraints', 'Success metrics'] },
  { name: 'a heading without text is not a section', body: '##\n' + FILLED, goal: 'Make checkout fast.', problems: [] },
  { name: '#Goal without a space is not a heading', body: FILLED.replace('## Goal', '##Goal'), problems: ['Goal'] },
  { name: 'indented 4 spaces is code, not a heading', body: FILLED.replace('## Goal', '    ## Goal'), problems: ['Goal'] },
  { name: 'a repeated heading adds to the section', body: FILLED + '\n## Constraints\n- one more', constraints: ['keep the API', 'no new services', 'one more'], problems: [] },
  { name: 'NUL in the text is kept as text (the spec refuses it)', body: FILLED.replace('Make checkout fast.', 'Make\u0000 checkout'), goal: 'Make\u0000 checkout', problems: [] },
];

describe('parseTemplate', () => {
  it.each(cases)('$name', (c) => {
    const t = parseTemplate(c.body);
    if (c.goal !== undefined) expect(t.goal).toBe(c.goal);
    if (c.constraints) expect(t.constraints).toEqual(c.constraints);
    if (c.successMetrics) expect(t.successMetrics).toEqual(c.successMetrics);
    if (c.nonGoals) expect(t.nonGoals).toEqual(c.nonGoals);
    if (c.problems) expect(missingFields(t).map((p) => p.field)).toEqual(c.problems);
  });

  it('a 1 MB body is read in well under a second', () => {
    const big = FILLED.replace('Make checkout fast.', 'x'.repeat(1_000_000));
    const hashes = '## ' + ' '.repeat(1_000_000) + 'x';
    const items = '## Constraints\n' + '- a\n'.repeat(250_000);
    for (const body of [big, hashes, items, '<!--'.repeat(250_000), '`'.repeat(1_000_000)]) {
      const t0 = performance.now();
      parseTemplate(body);
      expect(performance.now() - t0).toBeLessThan(1000);
    }
    expect(parseTemplate(items).constraints).toHaveLength(250_000);
  });

  it.each([
    ['Goal', 'goal'], ['goals', 'goal'], ['🎯 Goal', 'goal'], ['Goal (required)', 'goal'], ['Constraints:', 'constraints'],
    ['Success criteria', 'successMetrics'], ['Non-Goals', 'nonGoals'], ['Out of scope', 'nonGoals'], ['Goal of the day', undefined], ['Context', undefined],
  ])('heading %j names %s', (heading, field) => {
    expect(fieldOfHeading(heading)).toBe(field);
  });

  it('docs/idea-template.md is the template a repository copies to .github/ISSUE_TEMPLATE', () => {
    expect(readFileSync('docs/idea-template.md', 'utf8')).toBe(readFileSync('.github/ISSUE_TEMPLATE/facteur-idea.md', 'utf8'));
    expect(readFileSync('docs/idea-template.md', 'utf8')).toMatch(/^---\n[\s\S]*labels: facteur\n/);
  });
});

const issue = (body: string, over: Record<string, unknown> = {}) => ({
  action: 'opened',
  issue: { number: 12, title: 'Faster checkout', body, labels: [{ name: 'facteur' }, { name: 'good first issue' }, { name: 'bad {{label}}' }], user: { login: 'octo' } },
  repository: { full_name: 'Acme/Shop' },
  ...over,
});

describe('decideIssue', () => {
  it('a filled template becomes an Idea Spec keyed by the issue, with its title, labels and number', () => {
    const d = decideIssue(issue(FILLED), 'facteur');
    expect(d.kind).toBe('spec');
    if (d.kind !== 'spec') return;
    expect(d.key).toBe('github-issue:acme/shop#12');
    expect(d.spec).toMatchObject({
      title: 'Faster checkout', goal: 'Make checkout fast.', repository: 'acme/shop', labels: ['facteur', 'good first issue'],
      source: { type: 'github_issue', ref: 'acme/shop#12' }, initiator: { kind: 'github', login: 'octo' },
    });
  });

  it.each([
    ['another action', 'ignored', issue(FILLED, { action: 'edited' })],
    ['labeled with another label', 'ignored', issue(FILLED, { action: 'labeled', label: { name: 'bug' } })],
    ['labeled with the label', 'spec', issue(FILLED, { action: 'labeled', label: { name: 'Facteur' } })],
    ['opened without the label or headings', 'ignored', { ...issue('It crashes.'), issue: { number: 3, title: 't', body: 'It crashes.', labels: [] } }],
    ['opened without the label, on the template', 'spec', { ...issue(FILLED), issue: { number: 3, title: 't', body: FILLED, labels: [] } }],
    ['opened with the label but no template', 'incomplete', issue('It crashes.')],
    ['a pull request', 'ignored', { ...issue(FILLED), issue: { ...issue(FILLED).issue, pull_request: {} } }],
  ])('%s → %s', (_name, kind, payload) => {
    expect(decideIssue(payload, 'facteur').kind).toBe(kind);
  });

  it('every problem is listed: missing sections, an over-long title, NUL', () => {
    const d = decideIssue({ ...issue('## Goal\nx\u0000y'), issue: { ...issue('').issue, title: 't'.repeat(300), body: '## Goal\nx\u0000y\n## Success metrics\n- ' + 'm'.repeat(2000) } }, 'facteur');
    expect(d.kind).toBe('incomplete');
    if (d.kind !== 'incomplete') return;
    expect(d.problems.map((p) => p.field)).toEqual(['Constraints', 'Goal', 'title', 'Success metrics']);
    const schema = decideIssue({ ...issue(''), issue: { ...issue('').issue, title: 't'.repeat(300), body: FILLED.replace('- p95 < 200 ms', '- ' + 'm'.repeat(2000)) } }, 'facteur');
    expect(schema.kind === 'incomplete' && schema.problems).toEqual([
      { field: 'title', message: 'must be at most 200 characters' },
      { field: 'Success metrics', message: 'item 1: must be at most 1000 characters' },
    ]);
  });

  it('a payload that is not an issues webhook is a 400 listing every problem', () => {
    expect(() => decideIssue({ action: 'opened', issue: { number: -1 }, repository: { full_name: 'x' } }, 'facteur')).toThrow(/invalid issues webhook/);
  });
});
