-- Who sent each delivery, as intake verified it (shared/auth): {"kind":"oidc","sub":…,"iss":…}
-- for a Knative source's OIDC token, {"kind":"token"} for the static FACTEUR_INTAKE_TOKEN,
-- {"kind":"open"} when intake authenticates nobody. Null for deliveries recorded before.
-- Adding a nullable column without a default rewrites nothing. The constraint is NOT VALID:
-- every existing row is null (which passes), so there is nothing to scan under the lock;
-- new rows are checked all the same. (coalesce: a missing key makes the test NULL, and a
-- CHECK lets NULL through.)
alter table codex_kb.deliveries add column sender jsonb;
alter table codex_kb.deliveries add constraint deliveries_sender_check check (
  sender is null or coalesce(
    (sender->>'kind' in ('token', 'open') and sender - 'kind' = '{}'::jsonb)
    or (sender->>'kind' = 'oidc' and jsonb_typeof(sender->'sub') = 'string' and jsonb_typeof(sender->'iss') = 'string'
        and sender - 'kind' - 'sub' - 'iss' = '{}'::jsonb),
    false)
) not valid;
