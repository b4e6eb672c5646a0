// What each stage after planning reports in the system and chaos tests, in the shapes the
// callbacks function holds artifacts to (shared/callbacks/artifacts.ts). No vitest import:
// `npm run chaos` loads it outside vitest.
export const STAGE_RESULT: Record<string, { kind: string; data: unknown }[]> = {
  implementation: [
    {
      kind: 'diff-stats',
      data: {
        base: '1111111111111111111111111111111111111111',
        head: '2222222222222222222222222222222222222222',
        files: [
          { path: 'src/feature.js', added: 12, removed: 2, status: 'modified' },
          { path: 'test/feature.test.js', added: 20, removed: 0, status: 'added' },
        ],
        added: 32,
        removed: 2,
      },
    },
    {
      kind: 'test-report',
      data: {
        toolchain: 'node',
        passed: true,
        checks: [{ name: 'test', command: 'npm test', exitCode: 0, durationMs: 840, passed: 3, failed: 0, skipped: 0, summary: '3 passed', outputTail: '# pass 3\n# fail 0\n' }],
      },
    },
  ],
  review: [{ kind: 'review', data: { verdict: 'approved', summary: 'ok' } }],
  integration: [{ kind: 'integration', data: { merged: true, sha: 'abc1234', method: 'merge' } }],
  deploy: [{ kind: 'deploy', data: { deployed: true, version: 'v1.2.3' } }],
};
