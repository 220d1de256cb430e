-- (SQLite) The CREATE TABLE statement of table ?, where the foreign keys' constraint names are written.
SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?
