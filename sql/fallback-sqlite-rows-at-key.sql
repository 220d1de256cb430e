-- (SQLite) The rows of one fallback-file table at one key ({{key_match}}: `"col" = ?` per key column).
SELECT {{columns}} FROM {{table}} WHERE {{key_match}}
