-- RUNBOOK: size of each table with its indexes and TOAST, biggest first (disk planning, and a sanity check that
-- the large tables of the SQLite file are the large tables here too).
SELECT c.relname AS "table", pg_size_pretty(pg_total_relation_size(c.oid)) AS total, c.reltuples::bigint AS approx_rows
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = current_schema() AND c.relkind = 'r'
ORDER BY pg_total_relation_size(c.oid) DESC;
