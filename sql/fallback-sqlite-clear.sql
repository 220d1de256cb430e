-- (SQLite) Empty a table of the fallback file that a migration seeded: its rows come from PostgreSQL.
DELETE FROM {{table}}
