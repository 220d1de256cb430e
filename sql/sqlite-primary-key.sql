-- (SQLite) The primary-key columns of table ?, in key order (a foreign key without parent columns references them).
SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk
