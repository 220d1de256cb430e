-- (SQLite) Row count of one snapshot table: only to hand the biggest tables to the scan threads first.
SELECT count(*) FROM {{table}}
