-- (SQLite) Rows of one table ({{table}}) whose foreign key points at a missing parent: after the catch-up only the
-- tables it rewrote and the tables referring to them can have one.
PRAGMA foreign_key_check({{table}})
