-- (SQLite) Remove the row of one fallback-file table at one key, to be written again or gone from PostgreSQL.
DELETE FROM {{table}} WHERE {{key_match}}
