-- (SQLite) Every schema object with its SQL and root page: two snapshots with different SQL text have no delta
-- (the schema changed); a table whose root page moved is diffed row by row.
SELECT type, name, tbl_name, rootpage, sql FROM sqlite_schema ORDER BY type, name
