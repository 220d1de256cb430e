-- (SQLite) Structural check of one table and its indexes ({{table}}), for a table the catch-up rewrote.
PRAGMA integrity_check({{table}})
