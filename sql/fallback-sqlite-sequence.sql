-- (SQLite) Never hand out an AUTOINCREMENT id PostgreSQL's sequence already gave: a table without a sqlite_sequence
-- row gets one at the sequence's last value (table name, value, table name).
INSERT INTO sqlite_sequence (name, seq) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = ?)
