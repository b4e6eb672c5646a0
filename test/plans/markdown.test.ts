import { describe, expect, it } from 'vitest';
import { normalizeMarkdownPlan, topologicalOrder, validatePlan } from '../../shared/plans/index.js';

// Headings per task, `Depends on:` lines with qualifiers, a risk table, every section.
const HEADINGS = `# Plan: Add OAuth login

Intro prose.

## Milestones
- M1: Foundation
- Phase 2 — Rollout

## Tasks

### 1. Create the users table
Key: users-table
Paths: \`db/migrations/010_users.sql\`, \`shared/users/index.ts\`
Risk: medium
Acceptance:
- migration applies on an empty database
- migration is idempotent

### 2. Build the OAuth callback
Depends on: users-table
Milestone: foundation
Acceptance criteria: callback stores the token

#### Notes
Uses the GitHub provider.

### 3. \`login-page\` Login page
Depends on: Build the OAuth callback (artifact: test-report), #1 (soft)
Risk: moderate
Milestone: 2
- [ ] login page renders
- [ ] logout works

## Risks
| ID | Risk | Likelihood | Impact | Mitigation |
|----|------|-----------|--------|------------|
| R1 | Token leak | low | high | encrypt at rest |

## Acceptance criteria
- users can log in

## Open questions
- Which scopes?
Do we need refresh tokens?
`;

// A bare checklist (no Tasks heading) with "after" lines, and a duplicated title.
const CHECKLIST = `Sprint plan for search.

- [ ] Add search index
  - acceptance: index builds in under 5 minutes
  - Paths: shared/search/
- [ ] Expose search API
  - after: Add search index
  - Acceptance:
    - returns results sorted by score
    - paginates
  - uses the existing HTTP router
- [x] Expose search API
  after: expose-search-api (approval)
  acceptance: documented
  risk: high

## Risks
- R7: index too big. Likelihood: high. Impact: medium. Mitigation: shard it.
- Slow queries
  - likelihood: low
  - impact: high
  - mitigation: add a cache
`;

// A numbered list with "Depends on #1", a trailing "(depends on #2)", unindented fields.
const NUMBERED = `## Implementation steps
1. Set up the database
   Acceptance: schema migrated
2. Write the repository layer
   Depends on #1
   Acceptance criteria:
   - CRUD covered by tests
3. Wire the HTTP handlers (depends on #2)
Risk: high
Acceptance:
- handlers return 404 for unknown ids
4. Ship it — after: #3 and #1
   Acceptance: deployed

## Risks
1. Schema churn — likelihood: medium, impact: medium, mitigation: review migrations
`;

const task = (t: Record<string, unknown>) => ({ description: '', dependsOn: [], paths: [], risk: 'low', ...t });

describe('normalizeMarkdownPlan', () => {
  it.each([
    {
      name: 'headings per task, with depends-on lines',
      markdown: HEADINGS,
      plan: {
        milestones: [
          { id: 'M1', title: 'Foundation' },
          { id: 'M2', title: 'Rollout' },
        ],
        tasks: [
          task({
            key: 'users-table',
            title: 'Create the users table',
            acceptanceCriteria: ['migration applies on an empty database', 'migration is idempotent'],
            paths: ['db/migrations/010_users.sql', 'shared/users/index.ts'],
            risk: 'medium',
          }),
          task({
            key: 'build-the-oauth-callback',
            title: 'Build the OAuth callback',
            description: 'Notes\nUses the GitHub provider.',
            dependsOn: [{ key: 'users-table', type: 'hard' }],
            acceptanceCriteria: ['callback stores the token'],
            milestone: 'M1',
          }),
          task({
            key: 'login-page',
            title: 'Login page',
            dependsOn: [
              { key: 'build-the-oauth-callback', type: 'artifact', artifact: 'test-report' },
              { key: 'users-table', type: 'soft' },
            ],
            acceptanceCriteria: ['login page renders', 'logout works'],
            risk: 'medium',
            milestone: 'M2',
          }),
        ],
        acceptanceCriteria: ['users can log in'],
        risks: [{ id: 'R1', description: 'Token leak', likelihood: 'low', impact: 'high', mitigation: 'encrypt at rest' }],
        openQuestions: ['Which scopes?', 'Do we need refresh tokens?'],
      },
      decisions: [
        'line 1: ignored heading "Plan: Add OAuth login"',
        'line 3: ignored "Intro prose."',
        'line 7: milestone "Rollout" → id "M2" (generated)',
        'line 19: task "Build the OAuth callback" → key "build-the-oauth-callback" (derived from the title)',
        'line 19: "build-the-oauth-callback" states no risk → low (default)',
        'line 21: "build-the-oauth-callback" milestone "foundation" → "M1" (resolved by title)',
        'line 28: "login-page" depends on "Build the OAuth callback" → "build-the-oauth-callback" (resolved by title)',
        'line 28: "login-page" depends on "#1" → "users-table" (resolved by number)',
        'line 29: "login-page" risk "moderate" read as medium',
        'line 30: "login-page" milestone "2" → "M2" (resolved by number)',
        'line 31: "login-page": checklist items under the task taken as acceptance criteria',
      ],
    },
    {
      name: 'a checklist with "after" lines',
      markdown: CHECKLIST,
      plan: {
        milestones: [],
        tasks: [
          task({ key: 'add-search-index', title: 'Add search index', acceptanceCriteria: ['index builds in under 5 minutes'], paths: ['shared/search/'] }),
          task({
            key: 'expose-search-api',
            title: 'Expose search API',
            description: '- uses the existing HTTP router',
            dependsOn: [{ key: 'add-search-index', type: 'hard' }],
            acceptanceCriteria: ['returns results sorted by score', 'paginates'],
          }),
          task({
            key: 'expose-search-api-2',
            title: 'Expose search API',
            dependsOn: [{ key: 'expose-search-api', type: 'approval' }],
            acceptanceCriteria: ['documented'],
            risk: 'high',
          }),
        ],
        acceptanceCriteria: [],
        risks: [
          { id: 'R7', description: 'index too big.', likelihood: 'high', impact: 'medium', mitigation: 'shard it.' },
          { id: 'R2', description: 'Slow queries', likelihood: 'low', impact: 'high', mitigation: 'add a cache' },
        ],
        openQuestions: [],
      },
      decisions: [
        'line 1: ignored "Sprint plan for search."',
        'line 3: checklist outside a Tasks section taken as tasks',
        'line 3: task "Add search index" → key "add-search-index" (derived from the title)',
        'line 3: "add-search-index" states no risk → low (default)',
        'line 6: task "Expose search API" → key "expose-search-api" (derived from the title)',
        'line 6: "expose-search-api" states no risk → low (default)',
        'line 7: "expose-search-api" depends on "Add search index" → "add-search-index" (resolved by title)',
        'line 12: task "Expose search API" → key "expose-search-api-2" (derived from the title; "expose-search-api" was taken)',
        'line 19: risk "Slow queries" → id "R2" (generated)',
      ],
    },
    {
      name: 'a numbered list with "Depends on #1"',
      markdown: NUMBERED,
      plan: {
        milestones: [],
        tasks: [
          task({ key: 'set-up-the-database', title: 'Set up the database', acceptanceCriteria: ['schema migrated'] }),
          task({
            key: 'write-the-repository-layer',
            title: 'Write the repository layer',
            dependsOn: [{ key: 'set-up-the-database', type: 'hard' }],
            acceptanceCriteria: ['CRUD covered by tests'],
          }),
          task({
            key: 'wire-the-http-handlers',
            title: 'Wire the HTTP handlers',
            dependsOn: [{ key: 'write-the-repository-layer', type: 'hard' }],
            acceptanceCriteria: ['handlers return 404 for unknown ids'],
            risk: 'high',
          }),
          task({
            key: 'ship-it',
            title: 'Ship it',
            dependsOn: [
              { key: 'wire-the-http-handlers', type: 'hard' },
              { key: 'set-up-the-database', type: 'hard' },
            ],
            acceptanceCriteria: ['deployed'],
          }),
        ],
        acceptanceCriteria: [],
        risks: [{ id: 'R1', description: 'Schema churn', likelihood: 'medium', impact: 'medium', mitigation: 'review migrations' }],
        openQuestions: [],
      },
      decisions: [
        'line 2: task "Set up the database" → key "set-up-the-database" (derived from the title)',
        'line 2: "set-up-the-database" states no risk → low (default)',
        'line 4: task "Write the repository layer" → key "write-the-repository-layer" (derived from the title)',
        'line 4: "write-the-repository-layer" states no risk → low (default)',
        'line 5: "write-the-repository-layer" depends on "#1" → "set-up-the-database" (resolved by number)',
        'line 8: task "Wire the HTTP handlers" → key "wire-the-http-handlers" (derived from the title)',
        'line 8: "wire-the-http-handlers" depends on "#2" → "write-the-repository-layer" (resolved by number)',
        'line 12: task "Ship it" → key "ship-it" (derived from the title)',
        'line 12: "ship-it" depends on "#3" → "wire-the-http-handlers" (resolved by number)',
        'line 12: "ship-it" depends on "#1" → "set-up-the-database" (resolved by number)',
        'line 12: "ship-it" states no risk → low (default)',
        'line 16: risk "Schema churn" → id "R1" (generated)',
      ],
    },
  ])('$name', ({ markdown, plan, decisions }) => {
    const r = normalizeMarkdownPlan(markdown);
    expect(r.plan).toEqual(plan);
    expect(r.decisions).toEqual(decisions);
    // What the normalizer produced is a valid plan, and validation adds nothing to it.
    expect(validatePlan(r.plan)).toEqual(plan);
  });

  it('is deterministic: the same text gives byte-identical output, CRLF or LF', () => {
    for (const md of [HEADINGS, CHECKLIST, NUMBERED]) {
      const once = JSON.stringify(normalizeMarkdownPlan(md));
      expect(JSON.stringify(normalizeMarkdownPlan(md))).toBe(once);
      expect(JSON.stringify(normalizeMarkdownPlan(md.replace(/\n/g, '\r\n')))).toBe(once);
    }
  });

  it('gives a valid plan whose dependency chain orders the tasks', () => {
    const plan = validatePlan(normalizeMarkdownPlan(NUMBERED).plan);
    expect(plan.tasks).toHaveLength(4);
    expect(topologicalOrder(plan)).toEqual(['set-up-the-database', 'write-the-repository-layer', 'wire-the-http-handlers', 'ship-it']);
    expect(topologicalOrder(validatePlan(normalizeMarkdownPlan(HEADINGS).plan))).toEqual(['users-table', 'build-the-oauth-callback', 'login-page']);
  });

  it.each([
    {
      name: 'explicit keys win over derived ones, wherever they appear',
      markdown: '## Tasks\n- [ ] Deploy\n- [ ] `deploy` Real deploy\n  after: 1',
      keys: ['deploy-2', 'deploy'],
      deps: [[], [{ key: 'deploy-2', type: 'hard' }]],
      decisions: [
        'line 2: task "Deploy" → key "deploy-2" (derived from the title; "deploy" was taken)',
        'line 2: "deploy-2" states no risk → low (default)',
        'line 3: "deploy" states no risk → low (default)',
        'line 4: "deploy" depends on "1" → "deploy-2" (resolved by number)',
      ],
    },
    {
      name: '"none", unresolvable refs, "and" inside a title, Task-numbered headings anywhere',
      markdown: '### Task 1: Design and build\nDepends on: none\n### Task 2: Ship\nDepends on: Design and build, ghost',
      keys: ['design-and-build', 'ship'],
      deps: [[], [{ key: 'design-and-build', type: 'hard' }, { key: 'ghost', type: 'hard' }]],
      decisions: [
        'line 1: task "Design and build" → key "design-and-build" (derived from the title)',
        'line 1: "design-and-build" states no risk → low (default)',
        'line 3: task "Ship" → key "ship" (derived from the title)',
        'line 3: "ship" states no risk → low (default)',
        'line 4: "ship" depends on "Design and build" → "design-and-build" (resolved by title)',
        'line 4: "ship" depends on "ghost": no task matches; kept as written',
      ],
    },
    {
      name: 'an unknown risk word and a code block outside any task',
      markdown: '```\nnot a plan\n```\n## Tasks\n1. Build\n   Risk: spicy',
      keys: ['build'],
      deps: [[]],
      decisions: [
        'line 1: ignored a code block',
        'line 5: task "Build" → key "build" (derived from the title)',
        'line 6: "build" risk "spicy" is not low, medium or high → low (default)',
      ],
    },
  ])('$name', ({ markdown, keys, deps, decisions }) => {
    const r = normalizeMarkdownPlan(markdown);
    const tasks = (r.plan as { tasks: { key: string; dependsOn: unknown[] }[] }).tasks;
    expect(tasks.map((t) => t.key)).toEqual(keys);
    expect(tasks.map((t) => t.dependsOn)).toEqual(deps);
    expect(r.decisions).toEqual(decisions);
  });

  it('gives an empty plan for empty text (validation then says what is missing)', () => {
    expect(normalizeMarkdownPlan('')).toEqual({
      plan: { milestones: [], tasks: [], acceptanceCriteria: [], risks: [], openQuestions: [] },
      decisions: [],
    });
  });
});
