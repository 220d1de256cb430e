-- RUNBOOK (monitoring after cutover): statements running now, longest first (works without any extension).
SELECT pid, usename, now() - query_start AS running_for, state, wait_event_type, left(query, 160) AS query
FROM pg_stat_activity
WHERE datname = current_database() AND state <> 'idle' AND pid <> pg_backend_pid()
ORDER BY running_for DESC NULLS LAST
LIMIT 20;
