-- Rows inserted, updated and deleted per table of schema $1 by the current transaction so far (including what
-- referential actions did): must equal the delta before the online cutover commits it.
SELECT relname AS table_name, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_del::text AS del
FROM pg_stat_xact_user_tables
WHERE schemaname = $1
