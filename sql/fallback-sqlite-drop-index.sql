-- (SQLite) An index of a model table dropped while its rows are loaded; it is created again afterwards from the very
-- DDL text the migration left in sqlite_master (one sort instead of a B-tree insert per row).
DROP INDEX {{index}}
