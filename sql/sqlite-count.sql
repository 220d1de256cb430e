-- (SQLite) Row count of one snapshot table: export hands the biggest tables to the scan threads first; load-pg
-- uses it for progress when manifest.json is absent.
SELECT count(*) AS n FROM {{table}}
