// The artifact kinds a run may report: one list for the callbacks function, the plan schema
// and `facteur-step`. Kept free of imports, so `facteur-step` stays dependency-free.
export const ARTIFACT_KINDS = [
  'plan',
  'review',
  'integration',
  'deploy',
  'reflection',
  'test-report',
  'diff-stats',
  'toolchain',
  'prompt',
  'policy',
] as const;
export type ArtifactKind = (typeof ARTIFACT_KINDS)[number];
