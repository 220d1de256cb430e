-- (SQLite) One TEXT cell re-read as raw bytes, found by the row's key: better-sqlite3 turns invalid UTF-8 into
-- U+FFFD, so a text value containing U+FFFD is checked against its real bytes before it is loaded.
SELECT CAST({{column}} AS BLOB) FROM {{table}} WHERE {{keyMatch}} LIMIT 1
