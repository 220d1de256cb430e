-- (SQLite) online-delta-sqlite-changed.sql for the newer snapshot's rows at the given rowids only (a JSON array of
-- integers: the rowids on the table's changed leaves).
SELECT {{new_columns}}, {{old_columns}}
FROM main.{{table}} AS a
LEFT JOIN other.{{table}} AS b ON {{match}}
WHERE a.{{rowid}} IN (SELECT value FROM json_each(?)) AND ({{differs}})
