-- (SQLite) The n-th row (OFFSET ?) of the same scan as load-pg-sqlite-select: maps a line number in a
-- PostgreSQL COPY error back to the row's primary key.
SELECT {{columns}} FROM {{table}} LIMIT 1 OFFSET ?
