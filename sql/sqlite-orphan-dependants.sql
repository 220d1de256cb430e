-- (SQLite) Rows of {{table}} whose foreign key ({{join}}) points at a row of {{refTable}} whose rowid is in the JSON
-- array ?: what --orphans=delete leaves out with those rows so the result stays consistent.
SELECT c._rowid_ FROM {{refTable}} AS p JOIN {{table}} AS c ON {{join}}
WHERE p._rowid_ IN (SELECT value FROM json_each(?))
