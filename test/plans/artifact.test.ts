import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors/index.js';
import { parsePlanArtifact } from '../../shared/plans/index.js';

const PLAN = {
  tasks: [
    { key: 'a', title: 'A', acceptanceCriteria: ['done'] },
    { key: 'b', title: 'B', dependsOn: ['a'], acceptanceCriteria: ['done'] },
  ],
  risks: [{ id: 'R1', description: 'slip', likelihood: 'low', impact: 'low', mitigation: 'cut scope' }],
};

const MARKDOWN = `## Tasks
- [ ] \`a\` A
  acceptance: done
  risk: low
- [ ] \`b\` B
  after: a
  acceptance: done
  risk: low

## Risks
- R1: slip (likelihood: low, impact: low) — mitigation: cut scope
`;

function rejection(data: unknown): ValidationError {
  try {
    parsePlanArtifact(data);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).code).toBe('invalid_plan');
    return err as ValidationError;
  }
  throw new Error('expected the artifact to be rejected');
}

describe('parsePlanArtifact', () => {
  const expected = parsePlanArtifact(PLAN).plan;

  it.each([
    { name: 'a plan object', data: PLAN, source: 'json', decisions: [] },
    { name: 'JSON text', data: JSON.stringify(PLAN, null, 2), source: 'json', decisions: [] },
    { name: 'Markdown text', data: MARKDOWN, source: 'markdown', decisions: [] },
    { name: '{markdown}', data: { markdown: MARKDOWN }, source: 'markdown', decisions: [] },
    { name: 'Markdown encoded as a JSON string', data: JSON.stringify(MARKDOWN), source: 'markdown', decisions: [] },
  ])('reads $name to the same plan', ({ data, source, decisions }) => {
    const r = parsePlanArtifact(data);
    expect(r.source).toBe(source);
    expect(r.plan).toEqual(expected);
    expect(r.decisions).toEqual(decisions);
    expect(Object.isFrozen(r) && Object.isFrozen(r.plan) && Object.isFrozen(r.decisions)).toBe(true);
  });

  it('reads text that starts like JSON but is Markdown as Markdown, and says so', () => {
    const r = parsePlanArtifact(`[WIP] plan\n\n${MARKDOWN}`);
    expect(r.source).toBe('markdown');
    expect(r.plan).toEqual(expected);
    expect(r.decisions[0]).toMatch(/^the text is not valid JSON \(.+\); read as Markdown$/);
    expect(r.decisions.slice(1)).toEqual(['line 1: ignored "[WIP] plan"']);
  });

  it('rejects broken JSON that is not Markdown either', () => {
    const err = rejection('{"tasks": [');
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.path).toBe('(root)');
    expect(err.issues[0]!.message).toMatch(/^not valid JSON: /);
  });

  it('validates a Markdown plan like any other: a cycle is named', () => {
    const md = MARKDOWN.replace('  acceptance: done\n  risk: low\n- [ ] `b`', '  after: b\n  acceptance: done\n  risk: low\n- [ ] `b`');
    expect(rejection(md).issues).toEqual([{ path: 'tasks.0.dependsOn.0', message: 'cycle: a → b → a' }]);
  });

  it('rejects what is neither a plan nor text', () => {
    expect(rejection(42).issues).toEqual([{ path: '(root)', message: 'a plan must be an object' }]);
    expect(rejection({ markdown: '' }).issues.map((i) => i.message)).toEqual([
      'the plan has no tasks',
      'the plan has no risk register: list at least one risk',
    ]);
  });
});
