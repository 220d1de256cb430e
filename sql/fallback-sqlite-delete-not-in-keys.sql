-- (SQLite) Remove the rows of one fallback-file table whose key PostgreSQL no longer has.
DELETE FROM {{table}} AS t WHERE NOT EXISTS (SELECT 1 FROM {{keys}} AS k WHERE {{key_match}})
