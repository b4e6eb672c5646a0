import { BinaryWriter, WireType } from '@bufbuild/protobuf/wire';
import { describe, expect, it } from 'vitest';
import { ValidationError } from '../../shared/errors/index.js';
import { decodeCodexTask, encodeCodexTask, parseCodexTaskJson, type CodexTask } from '../../shared/intake/codex-task.js';

const base: Partial<CodexTask> = {
  stage: 'implementation',
  prompt: 'Implement {{the}} thing',
  repository: 'acme/web',
  base: 'main',
  head: 'codex/issue-42',
  issueNumber: '42',
  issueUrl: 'https://github.com/acme/web/issues/42',
  issueTitle: 'Dark mode',
  issueBody: 'Please ✨',
  sender: 'octocat',
  issuedAt: '2026-11-20T10:11:12.345Z',
  deliveryId: 'd-123',
};

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.issues.map((i) => `${i.path}: ${i.message}`);
    throw err;
  }
  throw new Error('expected a ValidationError');
}

describe('CodexTask protobuf', () => {
  it('round-trips every field the upstream producer writes', () => {
    const full: Partial<CodexTask> = {
      ...base,
      planCommentId: '777',
      planCommentUrl: 'https://x/c/777',
      planCommentBody: 'plan',
      reviewContext: {
        summary: 'two threads',
        reviewThreads: [{ summary: 'rename', url: 'https://x/t/1', author: 'bob' }],
        failingChecks: [{ name: 'ci', conclusion: 'failure', url: 'https://x/ci', details: 'red' }],
        additionalNotes: ['note'],
      },
      metadataVersion: 2,
      iteration: 3,
      iterationCycle: 1,
      autonomous: true,
    };
    const t = decodeCodexTask(encodeCodexTask(full));
    expect(t).toMatchObject(full);
  });

  it('keeps int64 issue numbers exact beyond 2^53', () => {
    const t = decodeCodexTask(encodeCodexTask({ ...base, issueNumber: '9007199254740993' }));
    expect(t.issueNumber).toBe('9007199254740993');
  });

  it('matches the wire bytes of the upstream encoding for known fields', () => {
    // stage=2 (field 1 varint), repository (field 3), issue_number=42 (field 6), delivery_id (field 15)
    const bytes = encodeCodexTask({ stage: 'implementation', repository: 'a/b', issueNumber: '42', deliveryId: 'x' });
    expect(Buffer.from(bytes).toString('hex')).toBe('0802' + '1a03612f62' + '302a' + '7a0178');
  });

  it('tolerates unknown fields from newer producers', () => {
    const known = encodeCodexTask(base);
    const extra = new BinaryWriter();
    extra.tag(99, WireType.LengthDelimited).string('from the future');
    extra.tag(100, WireType.Varint).int32(5);
    extra.tag(101, WireType.Bit64).fixed64(1n);
    const t = decodeCodexTask(Buffer.concat([known, extra.finish()]));
    expect(t.repository).toBe('acme/web');
  });

  it('lists every problem: unspecified stage, missing delivery id, bad repository', () => {
    const issues = issuesOf(() => decodeCodexTask(encodeCodexTask({ repository: 'nope', issueNumber: '1' })));
    expect(issues).toEqual([
      'stage: is CODEX_TASK_STAGE_UNSPECIFIED; expected planning, implementation or review',
      'repository: must be owner/name (letters, digits, "-", "_", "."; the owner starting with a letter or digit)',
      'deliveryId: is required (X-GitHub-Delivery)',
    ]);
  });

  it('rejects bytes that are not protobuf', () => {
    // field 2 (prompt) announces 5 bytes but the message ends after 1
    expect(issuesOf(() => decodeCodexTask(Buffer.from([0x12, 0x05, 0x61]))).some((i) => i.startsWith('body: '))).toBe(true);
  });

  it('reports a known field sent with the wrong wire type', () => {
    const w = new BinaryWriter();
    w.tag(3, WireType.Varint).int32(5);
    expect(issuesOf(() => decodeCodexTask(w.finish()))).toContain('repository: field 3 has wire type 0, expected 2');
  });
});

describe('CodexTask JSON', () => {
  const json = (o: Record<string, unknown>) => Buffer.from(JSON.stringify({ ...base, deliveryId: undefined, ...o }));

  it.each([
    ['planning', 'planning'],
    ['CODEX_TASK_STAGE_IMPLEMENTATION', 'implementation'],
    ['review', 'review'],
  ])('accepts stage %s', (stage, want) => {
    expect(parseCodexTaskJson(json({ stage }), 'hdr').stage).toBe(want);
  });

  it('takes the delivery id from the Kafka header', () => {
    expect(parseCodexTaskJson(json({}), 'from-header').deliveryId).toBe('from-header');
  });

  it('accepts int64 as a string (protojson) and exact numbers', () => {
    expect(parseCodexTaskJson(json({ issueNumber: '9223372036854775807' }), 'h').issueNumber).toBe('9223372036854775807');
    expect(parseCodexTaskJson(json({ issueNumber: 42 }), 'h').issueNumber).toBe('42');
  });

  it('refuses a number that JSON cannot carry exactly, and lists all problems', () => {
    const issues = issuesOf(() => parseCodexTaskJson(json({ issueNumber: 2 ** 60, stage: 'deploying', repository: 7 }), 'h'));
    expect(issues.some((i) => i.startsWith('issueNumber: is not an exact integer'))).toBe(true);
    expect(issues.some((i) => i.startsWith('stage: unknown stage "deploying"'))).toBe(true);
    expect(issues.some((i) => i.startsWith('repository: '))).toBe(true);
  });
});
