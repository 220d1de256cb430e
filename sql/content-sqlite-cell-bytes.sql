-- (SQLite) One TEXT cell re-read as raw bytes by the row's key: better-sqlite3 turns invalid UTF-8 into U+FFFD,
-- so a value containing U+FFFD is checked against its real bytes, as export-sqlite does.
SELECT CAST({{column}} AS BLOB) FROM {{table}} WHERE {{key_match}} LIMIT 1
