-- (SQLite) Drop the temporary key table.
DROP TABLE {{keys}}
