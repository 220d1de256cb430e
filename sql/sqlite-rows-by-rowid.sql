-- (SQLite) The rows of {{table}} whose rowid is in the JSON array ?, rowid first: the original values of the rows
-- --orphans nulls or leaves out, written to the run directory.
SELECT _rowid_, {{columns}} FROM {{table}} WHERE _rowid_ IN (SELECT value FROM json_each(?)) ORDER BY _rowid_
