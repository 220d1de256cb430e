-- (SQLite) The n-th row (:offset) of the same scan as sqlite-table-scan-treated: maps a line number in a PostgreSQL
-- COPY error back to the row's key when some rows were left out or nulled (--orphans).
SELECT {{columns}} FROM {{table}} WHERE _rowid_ NOT IN (SELECT value FROM json_each(:leftOut)) LIMIT 1 OFFSET :offset
