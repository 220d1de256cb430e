-- (SQLite) Column names of one snapshot table ($1), to check the snapshot matches the Prisma schema before loading.
SELECT name FROM pragma_table_info(?)
