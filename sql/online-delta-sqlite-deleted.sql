-- (SQLite) Rows of the older snapshot (main, b) whose key no row of the newer one (other, a) has: deleted, or
-- their key changed (the new key then arrives as an insert).
SELECT {{columns}}
FROM main.{{table}} AS b
WHERE NOT EXISTS (SELECT 1 FROM other.{{table}} AS a WHERE {{match}})
