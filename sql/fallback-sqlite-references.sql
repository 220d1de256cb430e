-- (SQLite) The tables a table's foreign keys point at (? = the table).
SELECT DISTINCT "table" AS parent FROM pragma_foreign_key_list(?)
