-- (SQLite) Rows whose foreign key points at a missing parent: table, rowid, parent, fkid (the id in
-- pragma_foreign_key_list). SQLite only enforces foreign keys when the app enables them per connection, so orphans
-- can exist; PostgreSQL rejects them when the constraints are validated. Read-only: backup and export-sqlite run it.
PRAGMA foreign_key_check
