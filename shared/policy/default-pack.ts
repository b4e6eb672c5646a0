// `default@1`, seeded at every start (idempotent): the behaviour Facteur had before packs —
// every rule a warning, autonomy levels as the Idea Spec asks, budgets from the Idea Spec,
// high-risk labels. A repository with no policy of its own uses the latest active `default`.
export const DEFAULT_PACK_SOURCE = `schemaVersion: 1
key: default
version: 1
description: >-
  Warnings only: what an idea's autonomy level, budget and labels would require is
  recorded and shown, nothing is stopped. Copy it as a new key to enforce.
strict: false
rules:
  autonomy:
    mode: warn
    maxLevel: L3
    preconditions:
      acceptanceCriteria: false
      successMetrics: false
      monitoring: false
  highRisk:
    mode: warn
    labels: [security, migration, breaking-change, infra]
    planRisk: false
  budgets:
    mode: warn
    warnAt: 0.8
approvals:
  required: 1
  onExpiry: block
`;
