-- upgrade --dry-run (SQLite, read-only): column names of one table (table name as a bound parameter).
SELECT name FROM pragma_table_info(?);
