import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors/index.js';
import { STAGES, isDnsSubdomain, isLabelValue, labelValue, workflowName } from '../../shared/argo/index.js';

const odd = [
  { ideaId: '7b0e6f7e-2a43-4a5e-9d7c-2b9f4c7f0a11', taskKey: 'api-auth' },
  { ideaId: 'idea-1', taskKey: 'x'.repeat(500) },
  { ideaId: 'idea-1', taskKey: 'Ünïcödé ✨ 任务 🚀' },
  { ideaId: 'idea-1', taskKey: '任务' },
  { ideaId: 'idea-1', taskKey: '---' },
  { ideaId: 'idea-1', taskKey: 'A.B_C/D:E {{workflow.name}}' },
  { ideaId: 'ü'.repeat(300), taskKey: 'k' },
];

describe('workflowName', () => {
  it.each(STAGES.flatMap((stage) => odd.map((o) => ({ ...o, stage }))))(
    'is a DNS-1123 subdomain and label value ≤ 63 chars ($stage)',
    (input) => {
      for (const attempt of [1, 7, 123_456_789, Number.MAX_SAFE_INTEGER]) {
        const name = workflowName({ ...input, attempt });
        expect(name.length).toBeLessThanOrEqual(63);
        expect(isDnsSubdomain(name), name).toBe(true);
        expect(isLabelValue(name), name).toBe(true);
        expect(name.startsWith(`facteur-${input.stage}-`)).toBe(true);
        expect(name.endsWith(`-a${attempt}`)).toBe(true);
      }
    },
  );

  it('is readable, stable for the same inputs and different per attempt', () => {
    const input = { ideaId: 'idea-1', taskKey: 'API Auth', stage: 'implementation' as const, attempt: 1 };
    const name = workflowName(input);
    expect(name).toMatch(/^facteur-implementation-api-auth-[0-9a-f]{12}-a1$/);
    expect(workflowName({ ...input })).toBe(name);
    expect(workflowName({ ...input, attempt: 2 })).toBe(name.replace(/-a1$/, '-a2'));
  });

  it('keeps two ideas with the same task key apart, and pairs that concatenate alike', () => {
    const a = workflowName({ ideaId: 'idea-1', taskKey: 'setup', stage: 'planning', attempt: 1 });
    const b = workflowName({ ideaId: 'idea-2', taskKey: 'setup', stage: 'planning', attempt: 1 });
    const c = workflowName({ ideaId: 'a-b', taskKey: 'c', stage: 'review', attempt: 1 });
    const d = workflowName({ ideaId: 'a', taskKey: 'b-c', stage: 'review', attempt: 1 });
    expect(a).not.toBe(b);
    expect(c).not.toBe(d);
  });

  it('gives distinct names across many ideas, tasks, stages and attempts', () => {
    const names = new Set<string>();
    for (let i = 0; i < 200; i++) {
      for (const stage of STAGES) {
        for (const attempt of [1, 2, 3]) names.add(workflowName({ ideaId: `idea-${i}`, taskKey: 'same-task', stage, attempt }));
      }
    }
    expect(names.size).toBe(200 * STAGES.length * 3);
  });

  it.each([
    [{ attempt: 0 }, 'attempt'],
    [{ attempt: 1.5 }, 'attempt'],
    [{ stage: 'nope' }, 'stage'],
    [{ ideaId: '' }, 'ideaId'],
    [{ taskKey: '' }, 'taskKey'],
  ])('rejects %j', (change, path) => {
    const input = { ideaId: 'i', taskKey: 't', stage: 'planning', attempt: 1, ...change };
    const err = (() => {
      try {
        workflowName(input as never);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as ValidationError).issues.map((i) => i.path)).toContain(path);
  });
});

describe('labelValue', () => {
  it.each(['7b0e6f7e-2a43-4a5e-9d7c-2b9f4c7f0a11', 'api-auth', 'A.b_c', '', '1234567890123456789'])('keeps valid value %j', (v) => {
    expect(labelValue(v)).toBe(v);
  });

  it.each(['api/auth', 'Ünïcödé ✨', '任务', '-lead', 'trail.', 'x'.repeat(64), '{{workflow.name}}', 'a b'])(
    'makes %j valid',
    (v) => {
      const out = labelValue(v);
      expect(isLabelValue(out), out).toBe(true);
      expect(out.length).toBeLessThanOrEqual(63);
      expect(labelValue(v)).toBe(out);
    },
  );

  it('keeps different inputs different after cleaning', () => {
    expect(labelValue('api/auth')).not.toBe(labelValue('api:auth'));
    expect(labelValue('x'.repeat(64))).not.toBe(labelValue('x'.repeat(65)));
  });
});
