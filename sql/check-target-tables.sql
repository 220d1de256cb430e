-- Relations already in the target schema: empty, a previous run of ours, or somebody else's data.
-- $1 = schema name
SELECT c.relname AS name
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
ORDER BY c.relname
