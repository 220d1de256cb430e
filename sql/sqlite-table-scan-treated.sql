-- (SQLite) sqlite-table-scan with the operator's --orphans choice applied: the rows whose rowid is in the JSON array
-- :leftOut are skipped, and {{columns}} may hold `CASE WHEN _rowid_ IN (SELECT value FROM json_each(:nulledN)) THEN NULL
-- ELSE col END` for foreign-key columns set to NULL. Same storage order as sqlite-table-scan, so export-sqlite,
-- load-pg and verify read the very same rows.
SELECT {{columns}} FROM {{table}} WHERE _rowid_ NOT IN (SELECT value FROM json_each(:leftOut))
