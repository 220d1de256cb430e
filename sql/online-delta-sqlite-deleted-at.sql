-- (SQLite) online-delta-sqlite-deleted.sql for the older snapshot's rows at the given rowids only (a JSON array of
-- integers: the rowids on the table's changed leaves).
SELECT {{columns}}
FROM main.{{table}} AS b
WHERE b.{{rowid}} IN (SELECT value FROM json_each(?))
  AND NOT EXISTS (SELECT 1 FROM other.{{table}} AS a WHERE {{match}})
