-- (SQLite) The n-th row (OFFSET ?) of the same scan as sqlite-table-scan: maps a line number in a
-- PostgreSQL COPY error back to the row's primary key.
SELECT {{columns}} FROM {{table}} LIMIT 1 OFFSET ?
