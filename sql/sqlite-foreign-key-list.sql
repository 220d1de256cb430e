-- (SQLite) The foreign keys of table ?, one row per column: id (as in PRAGMA foreign_key_check's fkid), seq,
-- the parent table, the child column and the parent column (NULL when the key references the parent's primary key).
SELECT id, seq, "table" AS parent, "from" AS col, "to" AS ref
FROM pragma_foreign_key_list(?)
ORDER BY id, seq
