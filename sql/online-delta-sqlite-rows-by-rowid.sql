-- (SQLite) The rows of one table at the rowids found on its changed leaf pages (a JSON array of integers).
SELECT {{columns}} FROM {{table}} WHERE {{rowid}} IN (SELECT value FROM json_each(?))
