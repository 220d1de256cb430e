-- (SQLite) A temporary table for the keys one table has on PostgreSQL now (outside the file being built).
CREATE TEMP TABLE {{keys}} ({{columns}}, PRIMARY KEY ({{columns}})) WITHOUT ROWID
