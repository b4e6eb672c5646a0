-- The text a run was given as its retrievedContext, kept with its retrieval decision: a
-- resubmitted Workflow (a retried create, a second dispatch instance) gets these same bytes,
-- and GET /v1/runs/{id}/context shows exactly what the run saw, even after the lessons behind
-- it were superseded or re-scored. Never over 4096 bytes (the budget retrieve.ts keeps).
alter table codex_kb.kb_retrievals
  add column context text not null default '' check (octet_length(context) <= 4096);
