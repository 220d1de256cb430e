-- RUNBOOK (monitoring after cutover): connections to this database by user, application and state. Prisma opens a
-- pool per backend process (num_cpus * 2 + 1 by default); a count that keeps growing means a leak or a restart loop.
SELECT usename, application_name, state, count(*) AS connections, max(now() - state_change) AS longest_in_state
FROM pg_stat_activity
WHERE datname = current_database()
GROUP BY usename, application_name, state
ORDER BY connections DESC;
