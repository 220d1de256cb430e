-- Rows inserted, updated and deleted per table since the statistics were last reset.
SELECT relname AS table_name, n_tup_ins::text AS ins, n_tup_upd::text AS upd, n_tup_del::text AS del
FROM pg_stat_user_tables
WHERE schemaname = $1
