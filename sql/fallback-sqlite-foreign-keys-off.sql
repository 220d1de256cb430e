-- (SQLite) Rows are copied table by table, children before parents: foreign keys are checked once at the end.
PRAGMA foreign_keys = OFF
