-- (SQLite) Every schema object of a database with its DDL text: the fallback file must show Prisma exactly what
-- the app's own file showed (same tables, indexes, views and triggers, byte for byte).
SELECT type, name, tbl_name, coalesce(sql, '') AS sql FROM sqlite_master ORDER BY type, name
