-- (SQLite) One TEXT cell re-read as raw bytes, found by the row's key: better-sqlite3 decodes invalid UTF-8 to
-- U+FFFD, so a value containing U+FFFD is checked against its real bytes (PostgreSQL rejects invalid UTF-8).
-- Used by export-sqlite, load-pg and verify's narrowing alike (lib/sqlite-cell-bytes.ts).
SELECT CAST({{column}} AS BLOB) FROM {{table}} WHERE {{keyMatch}} LIMIT 1
