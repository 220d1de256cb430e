-- (SQLite) Row count of one snapshot table, when manifest.json is absent.
SELECT count(*) AS n FROM {{table}}
