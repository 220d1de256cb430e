-- (SQLite) Rows of the newer snapshot (main, a) that are new or may differ from the older one (other, b), joined
-- by key: the newer row's columns, then the older row's (all NULL when no older row has the key). {{differs}} keeps
-- a row unless every column has the same storage class and compares equal under BINARY collation.
SELECT {{new_columns}}, {{old_columns}}
FROM main.{{table}} AS a
LEFT JOIN other.{{table}} AS b ON {{match}}
WHERE {{differs}}
