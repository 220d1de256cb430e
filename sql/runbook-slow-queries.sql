-- RUNBOOK (monitoring after cutover): the slowest statements on average, from pg_stat_statements. Needs the
-- extension (shared_preload_libraries = 'pg_stat_statements' and CREATE EXTENSION pg_stat_statements, done by a DBA);
-- without it this fails with "relation pg_stat_statements does not exist" — use runbook-long-running.sql instead.
SELECT calls, round(mean_exec_time::numeric, 1) AS mean_ms, round(total_exec_time::numeric) AS total_ms, rows,
       left(query, 160) AS query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY mean_exec_time DESC
LIMIT 20;
