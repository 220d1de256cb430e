-- (SQLite) A table that has its sqlite_sequence row: raised to the sequence's last value when that is higher
-- (value, table name).
UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?
