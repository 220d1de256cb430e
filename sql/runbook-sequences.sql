-- RUNBOOK: every sequence of the schema with its current value; after the load each must be >= max(id) of its
-- table (verify's integrity gate proves it; this is the quick manual look).
SELECT s.schemaname, s.sequencename, s.last_value, s.increment_by
FROM pg_sequences s
WHERE s.schemaname = current_schema()
ORDER BY s.sequencename;
