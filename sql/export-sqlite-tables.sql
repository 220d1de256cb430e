-- (SQLite) Every table of the snapshot, to compare with the Prisma schema (views, indexes and triggers are not data).
SELECT name FROM sqlite_schema WHERE type = 'table'
