-- The artifact kinds facteur-agent reports beside the first seven: `toolchain` (what its
-- gates run, per package root) and `prompt` (the prompt's version and digest). The list
-- is shared/callbacks/artifact-kinds.ts; test/lifecycle/callbacks.test.ts stores each kind.
alter table codex_kb.artifacts drop constraint artifacts_artifact_type_check;
alter table codex_kb.artifacts add constraint artifacts_artifact_type_check check (artifact_type in (
  'plan', 'review', 'integration', 'deploy', 'reflection', 'test-report', 'diff-stats', 'toolchain', 'prompt'));
