-- (SQLite) The rows of one fallback-file table whose key PostgreSQL no longer has ({{key_match}}: k.kN = t."col").
SELECT {{columns}} FROM {{table}} AS t WHERE NOT EXISTS (SELECT 1 FROM {{keys}} AS k WHERE {{key_match}})
