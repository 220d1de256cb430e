-- (SQLite) One row into a table of the fallback file, the columns named (schema order), the values bound.
INSERT INTO {{table}} ({{columns}}) VALUES ({{params}})
